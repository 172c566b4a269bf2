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
    # Counters kept by services (F() updates), so listings sort without aggregating clicks.
    recommended_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)
    lowest_price = models.PositiveIntegerField(null=True, blank=True)
    offers_refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title"]
        indexes = [
            models.Index(fields=["category", "is_hidden"]),
            models.Index(fields=["-recommended_count", "-click_count"]),
            models.Index(fields=["offers_refreshed_at"]),
        ]

    def __str__(self) -> str:
        return self.title


class Offer(models.Model):
    """A mall's price for a product, as last fetched (curated offers come from admins)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="offers")
    mall_name = models.CharField(_("mall"), max_length=120)
    price = models.PositiveIntegerField(_("price (KRW)"))
    link = models.URLField(_("link"), max_length=1000)
    fetched_at = models.DateTimeField(_("fetched at"))
    is_hidden = models.BooleanField(_("hidden"), default=False)
    click_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["price"]
        constraints = [models.UniqueConstraint(fields=["product", "mall_name", "link"], name="offer_unique_link")]
        indexes = [models.Index(fields=["product", "is_hidden", "price"])]

    def __str__(self) -> str:
        return f"{self.mall_name} {self.price:,}원"


class PricePoint(models.Model):
    """The lowest price seen for a product on a day: what "today's deals" compares against."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="price_points")
    day = models.DateField()
    lowest_price = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day"], name="price_point_per_day")]
        indexes = [models.Index(fields=["day", "product"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day}: {self.lowest_price}"


class Recommendation(models.Model):
    """One recommended item of a generation, with its hotspot and the offers shown for it."""

    job = models.ForeignKey("generation.GenerationJob", on_delete=models.CASCADE, related_name="recommendations")
    position = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=80)
    query_ko = models.CharField(max_length=120)
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True)
    placement = models.CharField(max_length=120, blank=True)
    hotspot_x = models.FloatField(null=True, blank=True)
    hotspot_y = models.FloatField(null=True, blank=True)
    offers = models.ManyToManyField(Offer, through="RecommendationOffer", related_name="recommendations")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="recommendation_position")]

    def __str__(self) -> str:
        return f"{self.label} ({self.query_ko})"


class RecommendationOffer(models.Model):
    recommendation = models.ForeignKey(Recommendation, on_delete=models.CASCADE)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE)
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["rank"]
        constraints = [models.UniqueConstraint(fields=["recommendation", "offer"], name="recommendation_offer_once")]

    def __str__(self) -> str:
        return f"{self.recommendation_id} #{self.rank}: {self.offer_id}"


class OfferClick(models.Model):
    """A buy-link click, kept per offer and per generation for "most recommended" and admin stats."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="clicks")
    recommendation = models.ForeignKey(Recommendation, on_delete=models.SET_NULL, null=True, blank=True)
    job = models.ForeignKey("generation.GenerationJob", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"click on offer {self.offer_id} at {self.created_at:%Y-%m-%d %H:%M}"


class NaverApiUsage(models.Model):
    """Calls made to Naver per day (Asia/Seoul), checked against NAVER_DAILY_CALL_LIMIT."""

    day = models.DateField(primary_key=True)
    calls = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("Naver API usage")
        verbose_name_plural = _("Naver API usage")

    def __str__(self) -> str:
        return f"{self.day}: {self.calls}"
