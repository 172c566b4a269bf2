"""Reads for the shop. Listings use the denormalised counters and prices: flat query counts."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from shop.models import Category, Offer, PricePoint, Product, Recommendation, RecommendationOffer

DEAL_LOOKBACK_DAYS = 30
DEAL_MIN_DISCOUNT = 0.05


def categories() -> QuerySet[Category]:
    return Category.objects.all()


def products_visible() -> QuerySet[Product]:
    return Product.objects.filter(is_hidden=False, lowest_price__isnull=False).select_related("category")


def product_list(*, category: str | None = None, query: str | None = None, ordering: str = "popular"):
    products = products_visible()
    if category:
        products = products.filter(category__slug=category)
    if query:
        words = query.split()[:5]
        condition = Q()
        for word in words:
            condition &= Q(title__icontains=word) | Q(search_query_ko__icontains=word) | Q(brand__icontains=word)
        products = products.filter(condition)
    order = {
        "popular": ("-recommended_count", "-click_count", "title"),
        "price": ("lowest_price", "title"),
        "new": ("-created_at",),
    }.get(ordering, ("-recommended_count", "-click_count", "title"))
    return products.order_by(*order)


def products_popular() -> QuerySet[Product]:
    """'Most recommended': how often OnTop recommended it, then how often people clicked through."""
    return products_visible().filter(recommended_count__gt=0).order_by("-recommended_count", "-click_count", "title")


def deals_today() -> QuerySet[Product]:
    """Products whose lowest price today is at least 5 % under their average of the last 30 days."""
    today = timezone.localdate()
    recent_average = (
        PricePoint.objects.filter(
            product=OuterRef("pk"), day__gte=today - timedelta(days=DEAL_LOOKBACK_DAYS), day__lt=today
        )
        .values("product")
        .annotate(average=Avg("lowest_price"))
        .values("average")
    )
    return (
        products_visible()
        .annotate(recent_average=Subquery(recent_average))
        .filter(recent_average__isnull=False, lowest_price__lte=F("recent_average") * (1 - DEAL_MIN_DISCOUNT))
        .annotate(discount=1 - F("lowest_price") * 1.0 / F("recent_average"))
        .order_by("-discount", "title")
    )


def visible_offers() -> QuerySet[Offer]:
    return Offer.objects.filter(is_hidden=False, product__is_hidden=False)


def product_detail(*, product_id: int) -> Product:
    return get_object_or_404(
        products_visible().prefetch_related(Prefetch("offers", queryset=visible_offers().order_by("price"))),
        pk=product_id,
    )


def product_makeovers(*, product: Product, owner):
    """The viewer's own makeovers this product was recommended in (never anybody else's)."""
    if owner is None or not owner.is_authenticated:
        return []
    from generation.models import GenerationJob

    return (
        GenerationJob.objects.filter(owner=owner, recommendations__offers__product=product)
        .distinct()
        .order_by("-created_at")[:12]
    )


def job_recommendations(*, job) -> list[Recommendation]:
    return list(
        Recommendation.objects.filter(job=job)
        .select_related("category")
        .prefetch_related(
            Prefetch(
                "recommendationoffer_set",
                queryset=RecommendationOffer.objects.filter(offer__is_hidden=False, offer__product__is_hidden=False)
                .select_related("offer__product")
                .order_by("rank"),
                to_attr="visible_offers",
            )
        )
    )
