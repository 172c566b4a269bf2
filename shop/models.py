from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    slug = models.SlugField(unique=True)
    name_en = models.CharField(_("name (English)"), max_length=80)
    name_ko = models.CharField(_("name (Korean)"), max_length=80)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name_en


class Product(models.Model):
    title = models.CharField(_("title"), max_length=300)
    brand = models.CharField(_("brand"), max_length=120, blank=True)
    maker = models.CharField(_("maker"), max_length=120, blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    image_url = models.URLField(_("image URL"), max_length=500, blank=True)
    # Naver's own product id, when known; products are de-duplicated by it.
    naver_product_id = models.CharField(max_length=40, unique=True, null=True, blank=True)
    search_query_ko = models.CharField(_("Korean search query"), max_length=200, blank=True)
    is_curated = models.BooleanField(_("curated by us"), default=False)
    is_hidden = models.BooleanField(_("hidden"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["category", "is_hidden"])]

    def __str__(self) -> str:
        return self.title
