"""Reads for the shop. Listings use the denormalised counters and prices: flat query counts.

What the listings mean:

- **most recommended** (`/shop/recommended/`, `ordering=recommended`): how often OnTop's planner
  recommended the product in makeovers (`recommended_count`);
- **popular** (`ordering=popular`): how often people pressed "Buy" on it (`click_count`), i.e. what
  people actually went to buy, whatever we recommended;
- **deals** (`/shop/deals/`, `ordering=deals`): today's lowest price at least 5 % under the product's
  reference price: the higher of its 30-day average lowest price and its regular price (an admin's
  list price, or the highest price malls ask on Naver). Without the regular price a fresh catalog
  had no history and no deals at all;
- **search** (`q`): every word must be found in the title, the Korean query or the brand, as a
  substring (Korean words inside compounds: "스탠드" in "LED스탠드") or by pg_trgm word similarity
  (typos: "speeker" finds "speaker"); best matches first. Both read the product_search_trgm index.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db.models import Avg, F, FloatField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Greatest
from django.db.models.lookups import Lookup
from django.utils import timezone

from gpu_worker.contract.desk_makeover import KIND as DESK_MAKEOVER
from shop.models import Category, Offer, PricePoint, Product, Recommendation, RecommendationOffer

DEAL_LOOKBACK_DAYS = 30
DEAL_MIN_DISCOUNT = 0.05
SEARCH_MAX_WORDS = 5
SEARCH_FIELDS = ("title", "search_query_ko", "brand")

ORDERINGS = ("relevance", "popular", "recommended", "price", "new")
_ORDER_BY = {
    "popular": ("-click_count", "-recommended_count", "title", "pk"),
    "recommended": ("-recommended_count", "-click_count", "title", "pk"),
    "price": ("lowest_price", "title", "pk"),
    "new": ("-created_at", "pk"),
}


class _ILike(Lookup):
    """`column ILIKE pattern`: unlike Django's icontains (UPPER(column) LIKE …) it can use the
    trigram index on the column itself."""

    lookup_name = "trigram_ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", [*lhs_params, *rhs_params]


class _WordSimilar(Lookup):
    """`word <% column`: pg_trgm's word similarity over its threshold (0.6), index-assisted."""

    lookup_name = "trigram_word_similar_to"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{rhs} <%% {lhs}", [*rhs_params, *lhs_params]


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_words(query: str | None) -> list[str]:
    return (query or "").split()[:SEARCH_MAX_WORDS]


def products_matching(products: QuerySet[Product], words: list[str]) -> QuerySet[Product]:
    """Products that have every word; annotated with `relevance` (summed trigram word similarity)."""
    relevance = Value(0.0, output_field=FloatField())
    for word in words:
        found = Q()
        for field in SEARCH_FIELDS:
            found |= Q(_ILike(F(field), _like_pattern(word))) | Q(_WordSimilar(F(field), word))
        products = products.filter(found)
        relevance = relevance + Greatest(*(TrigramWordSimilarity(word, field) for field in SEARCH_FIELDS))
    return products.annotate(relevance=relevance)


def categories() -> QuerySet[Category]:
    return Category.objects.all()


def products_visible() -> QuerySet[Product]:
    return Product.objects.filter(is_hidden=False, lowest_price__isnull=False).select_related("category")


def _with_reference_price(products: QuerySet[Product]) -> QuerySet[Product]:
    """Annotate `reference_price`: what today's price is compared with (discount_percent says how far under)."""
    today = timezone.localdate()
    recent_average = (
        PricePoint.objects.filter(
            product=OuterRef("pk"), day__gte=today - timedelta(days=DEAL_LOOKBACK_DAYS), day__lt=today
        )
        .values("product")
        .annotate(average=Avg("lowest_price"))
        .values("average")
    )
    # PostgreSQL's GREATEST skips NULLs: either reference alone is enough.
    reference = Greatest(
        Cast(Subquery(recent_average), FloatField()), Cast("regular_price", FloatField()), output_field=FloatField()
    )
    return products.annotate(reference_price=reference)


def discount_percent(product: Product) -> int | None:
    """12 for a product 12 % under its reference price; None when it is no deal (or was not annotated)."""
    reference = getattr(product, "reference_price", None)
    if not reference or product.lowest_price is None:
        return None
    discount = 1 - product.lowest_price / reference
    return round(discount * 100) if discount >= DEAL_MIN_DISCOUNT - 1e-9 else None


def product_list(
    *, category: str | None = None, query: str | None = None, ordering: str = "relevance"
) -> QuerySet[Product]:
    products = _with_reference_price(products_visible())
    if category:
        products = products.filter(category__slug=category)
    words = search_words(query)
    if words:
        products = products_matching(products, words)
    if ordering == "deals":
        return _deals(products)
    if ordering == "relevance" and words:
        return products.order_by("-relevance", *_ORDER_BY["recommended"])
    return products.order_by(*_ORDER_BY.get(ordering, _ORDER_BY["recommended"]))


def products_most_recommended() -> QuerySet[Product]:
    """'Most recommended': how often OnTop recommended it in makeovers (clicks only break ties)."""
    return _with_reference_price(products_visible()).filter(recommended_count__gt=0).order_by(*_ORDER_BY["recommended"])


def _deals(products: QuerySet[Product]) -> QuerySet[Product]:
    # Biggest discount first: the smallest share of the reference price.
    share = Cast("lowest_price", FloatField()) / F("reference_price")
    return (
        products.filter(reference_price__isnull=False, lowest_price__lte=F("reference_price") * (1 - DEAL_MIN_DISCOUNT))
        .alias(share=share)
        .order_by("share", "title", "pk")
    )


def deals_today(*, category: str | None = None) -> QuerySet[Product]:
    """Products whose lowest price today is at least 5 % under their reference price, biggest discount first."""
    return product_list(category=category, ordering="deals")


def visible_offers() -> QuerySet[Offer]:
    return Offer.objects.filter(is_hidden=False, product__is_hidden=False)


def product_get(*, product_id: int) -> Product | None:
    """A visible product with its visible offers, cheapest first; None when there is no such product."""
    return (
        _with_reference_price(products_visible())
        .prefetch_related(Prefetch("offers", queryset=visible_offers().order_by("price", "pk")))
        .filter(pk=product_id)
        .first()
    )


def product_makeovers(*, product: Product, owner) -> list:
    """The viewer's own makeovers this product was recommended in (never anybody else's), newest first."""
    if owner is None or not owner.is_authenticated:
        return []
    from generation.selectors import jobs_of

    recommended_in = Recommendation.objects.filter(offers__product=product).values("job_id")
    return list(jobs_of(owner=owner, kind=DESK_MAKEOVER).filter(pk__in=recommended_in).order_by("-created_at")[:12])


def _recommendations() -> QuerySet[Recommendation]:
    return Recommendation.objects.select_related("category").prefetch_related(
        Prefetch(
            "recommendationoffer_set",
            queryset=RecommendationOffer.objects.filter(offer__is_hidden=False, offer__product__is_hidden=False)
            .select_related("offer__product__category")
            .order_by("rank"),
            to_attr="visible_offers",
        )
    )


def recommendations_prefetch() -> Prefetch:
    """For a list of makeovers: every row's recommendations (and their offers) in two queries, whatever
    the number of rows; job_recommendations then reads them from the job."""
    return Prefetch("recommendations", queryset=_recommendations(), to_attr="prefetched_recommendations")


def job_recommendations(*, job) -> list[Recommendation]:
    prefetched = getattr(job, "prefetched_recommendations", None)
    if prefetched is not None:
        return prefetched
    return list(_recommendations().filter(job=job))
