from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

from shop.links import buy_url, is_search_link

# Categories with their own drawing under shop/static/shop/pictures/; any other shows the generic one.
ILLUSTRATED_CATEGORIES = frozenset({"lighting", "plants", "organizers", "accessories", "audio", "decor", "tech"})


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
    # What a deal is measured against when there is no price history yet: the list price an admin
    # set, or the highest price malls ask for it (Naver's hprice).
    regular_price = models.PositiveIntegerField(
        _("regular price (KRW)"),
        null=True,
        blank=True,
        help_text=_("The usual price: today's lowest price at least 5 percent under it makes the product a deal."),
    )
    offers_refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title"]
        indexes = [
            models.Index(fields=["category", "is_hidden"]),
            models.Index(fields=["-recommended_count", "-click_count"]),
            models.Index(fields=["offers_refreshed_at"]),
            # pg_trgm: the shop search (ILIKE and word similarity) reads this index, Korean included.
            GinIndex(
                fields=["title", "search_query_ko", "brand"],
                opclasses=["gin_trgm_ops", "gin_trgm_ops", "gin_trgm_ops"],
                name="product_search_trgm",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def picture_url(self) -> str:
        """The product's own picture, or a drawing of its category when we have none (curated items)."""
        if self.image_url:
            return self.image_url
        slug = self.category.slug if self.category_id else ""
        return static(f"shop/pictures/{slug if slug in ILLUSTRATED_CATEGORIES else 'product'}.svg")


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

    @property
    def is_search(self) -> bool:
        """The link opens a search (the curated fallback), not this item's own page."""
        return is_search_link(self.link)

    @property
    def link_kind(self) -> str:
        return "search" if self.is_search else "product"

    @property
    def buy_url(self) -> str:
        """Our counted redirect to the offer's own link (from a product page: no makeover)."""
        return buy_url(offer_id=self.pk)


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
    # The planner's Korean words for the Korean page (empty for makeovers planned before it wrote them).
    label_ko = models.CharField(max_length=80, blank=True)
    placement_ko = models.CharField(max_length=120, blank=True)
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

    @property
    def buy_url(self) -> str:
        """The counted redirect to the offer shown for this recommended item (the click counts for the makeover)."""
        return buy_url(offer_id=self.offer_id, recommendation_id=self.recommendation_id)


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
