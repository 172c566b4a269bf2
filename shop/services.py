"""Writes for the shop: catalog upserts, offers for makeovers, buy-link clicks, refreshes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from gpu_worker.contract.desk_makeover import DeskPreferences, PlannedItem
from shop.links import is_search_link
from shop.models import (
    Category,
    Offer,
    OfferClick,
    PricePoint,
    Product,
    Recommendation,
    RecommendationOffer,
)
from shop.naver.client import NaverItem, is_trusted_link
from shop.naver.search import naver_configured, search_shopping

logger = logging.getLogger(__name__)

# Words in Naver's category path (or the title) that mark a result as the right kind of thing.
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "lighting": ("조명", "스탠드", "램프", "라이트"),
    "plants": ("식물", "화분", "원예", "조화", "플랜트"),
    "organizers": ("정리", "수납", "받침대", "선반", "거치대"),
    "accessories": ("데스크", "매트", "거치대", "액세서리", "패드", "문구"),
    "audio": ("스피커", "음향", "오디오", "사운드"),
    "decor": ("인테리어", "소품", "머그", "컵", "장식", "액자"),
    "tech": ("PC", "컴퓨터", "주변기기", "디지털", "모니터"),
}


@dataclass(frozen=True)
class Budget:
    minimum: int | None = None
    maximum: int | None = None

    def allows(self, price: int) -> bool:
        return (self.minimum is None or price >= self.minimum) and (self.maximum is None or price <= self.maximum)


def pick_offers(items: list[NaverItem], *, category: str | None, budget: Budget, count: int) -> list[NaverItem]:
    """The cheapest relevant results within the budget; nothing over it (the card says so)."""
    priced = [item for item in items if item.lprice]
    keywords = CATEGORY_KEYWORDS.get(category or "", ())
    relevant = [i for i in priced if any(k in " ".join(i.categories) or k in i.title for k in keywords)] or priced
    affordable = [i for i in relevant if budget.allows(i.lprice)]
    chosen: list[NaverItem] = []
    seen: set[str] = set()
    for item in sorted(affordable, key=lambda i: i.lprice):
        identity = item.product_id or item.link
        if identity not in seen:
            seen.add(identity)
            chosen.append(item)
        if len(chosen) == count:
            break
    return chosen


def _category_for(slug: str | None) -> Category | None:
    return Category.objects.filter(slug=slug).first() if slug else None


def regular_price_of(item: NaverItem) -> int | None:
    """Naver's hprice (the highest price malls ask) when it is above the lowest: what a deal is measured against."""
    if item.hprice and item.lprice and item.hprice > item.lprice:
        return item.hprice
    return None


@transaction.atomic
def product_upsert_from_naver(item: NaverItem, *, category: Category, query_ko: str) -> Product:
    defaults = {
        "title": item.title[:300],
        "brand": item.brand[:120],
        "maker": item.maker[:120],
        "image_url": item.image,
        "regular_price": regular_price_of(item),
    }
    if item.product_id:
        product, created = Product.objects.get_or_create(
            naver_product_id=item.product_id, defaults={**defaults, "category": category, "search_query_ko": query_ko}
        )
        if not created:
            Product.objects.filter(pk=product.pk).update(**defaults)
        return product
    return Product.objects.create(**defaults, category=category, search_query_ko=query_ko)


@transaction.atomic
def offer_upsert(*, product: Product, mall_name: str, price: int, link: str) -> Offer:
    now = timezone.now()
    offer, _ = Offer.objects.update_or_create(
        product=product, mall_name=mall_name[:120], link=link, defaults={"price": price, "fetched_at": now}
    )
    product_prices_refresh(product=product)
    return offer


def product_prices_refresh(*, product: Product) -> None:
    """Keep the denormalised lowest price and today's price point in step with visible offers.

    Called after every offer write, the admin's included (hiding the cheapest offer raises the price)."""
    lowest = product.offers.filter(is_hidden=False).aggregate(lowest=Min("price"))["lowest"]
    Product.objects.filter(pk=product.pk).update(lowest_price=lowest, offers_refreshed_at=timezone.now())
    if lowest is not None:
        point, created = PricePoint.objects.get_or_create(
            product=product, day=timezone.localdate(), defaults={"lowest_price": lowest}
        )
        if not created and lowest < point.lowest_price:
            PricePoint.objects.filter(pk=point.pk).update(lowest_price=lowest)


def offers_for_item(*, query_ko: str, category: Category | None, budget: Budget) -> tuple[list[Offer], str]:
    """Offers to show for one recommended item, and where they came from."""
    count = settings.OFFERS_PER_ITEM
    # Asked even without credentials: the cache may still hold an earlier answer.
    outcome = search_shopping(query_ko) if query_ko else None
    if outcome is not None and category is not None:
        picks = pick_offers(outcome.items, category=category.slug, budget=budget, count=count)
        offers = []
        for item in picks:
            product = product_upsert_from_naver(item, category=category, query_ko=query_ko)
            offers.append(offer_upsert(product=product, mall_name=item.mall_name, price=item.lprice, link=item.link))
        if offers:
            return offers, outcome.source
    return curated_offers(query_ko=query_ko, category=category, budget=budget, count=count), "curated"


def curated_offers(*, query_ko: str, category: Category | None, budget: Budget, count: int) -> list[Offer]:
    offers = Offer.objects.filter(is_hidden=False, product__is_hidden=False, product__is_curated=True)
    if category is not None and offers.filter(product__category=category).exists():
        offers = offers.filter(product__category=category)
    words = set(query_ko.split())
    candidates = list(offers.select_related("product").order_by("price")[:200])
    # Products that share words with the query are the answer; the rest of the category only
    # when none does (a "monitor stand" item must not be offered every organizer).
    matching = [o for o in candidates if words & set(o.product.search_query_ko.split())]
    return [o for o in (matching or candidates) if budget.allows(o.price)][:count]


def job_offers_attach(*, job, items: list[PlannedItem], preferences: DeskPreferences) -> int:
    """Store the recommended items of a finished makeover with offers for each. Idempotent."""
    if job.recommendations.exists():
        return 0
    budget = Budget(preferences.budget_min, preferences.budget_max)
    planned = []
    for position, item in enumerate(items):
        category = _category_for(item.category)
        offers, source = offers_for_item(query_ko=item.query_ko, category=category, budget=budget)
        planned.append((position, item, category, offers, source))
    try:
        with transaction.atomic():
            for position, item, category, offers, _source in planned:
                recommendation = Recommendation.objects.create(
                    job=job,
                    position=position,
                    label=item.label[:80],
                    query_ko=item.query_ko[:120],
                    category=category,
                    placement=item.placement[:120],
                    label_ko=item.label_ko[:80],
                    placement_ko=item.placement_ko[:120],
                    hotspot_x=item.hotspot.x if item.hotspot else None,
                    hotspot_y=item.hotspot.y if item.hotspot else None,
                )
                RecommendationOffer.objects.bulk_create(
                    [RecommendationOffer(recommendation=recommendation, offer=o, rank=r) for r, o in enumerate(offers)]
                )
                product_ids = {offer.product_id for offer in offers}
                Product.objects.filter(pk__in=product_ids).update(recommended_count=F("recommended_count") + 1)
    except IntegrityError:
        return 0  # a concurrent run attached them first
    return len(planned)


def offer_click(*, offer_id: int, recommendation_id: int | None) -> str | None:
    """Count a buy-link click and return where to send the person (None: no such visible offer)."""
    offer = Offer.objects.filter(pk=offer_id, is_hidden=False, product__is_hidden=False).first()
    if offer is None or not is_trusted_link(offer.link, tuple(settings.NAVER_TRUSTED_HOSTS)):
        return None
    recommendation = (
        Recommendation.objects.filter(pk=recommendation_id, offers=offer).first() if recommendation_id else None
    )
    with transaction.atomic():
        OfferClick.objects.create(
            offer=offer, recommendation=recommendation, job_id=recommendation.job_id if recommendation else None
        )
        Offer.objects.filter(pk=offer.pk).update(click_count=F("click_count") + 1)
        Product.objects.filter(pk=offer.product_id).update(click_count=F("click_count") + 1)
    return offer.link


def product_refresh_offers(*, product: Product) -> str:
    """Re-price a product from Naver. Returns what happened, for logs and the admin."""
    if not naver_configured():
        return "skipped: Naver is not configured"
    own_links = {link for link in product.offers.values_list("link", flat=True) if not is_search_link(link)}
    if not product.naver_product_id and not own_links:
        # A curated search offer has no product page to re-price: no Naver call is spent on it.
        Product.objects.filter(pk=product.pk).update(offers_refreshed_at=timezone.now())
        return "skipped: nothing to re-price (its offers are searches)"
    outcome = search_shopping(product.search_query_ko or product.title)
    if outcome.source not in ("naver", "cache"):
        return f"skipped: {outcome.error or 'no fresh results'}"
    if product.naver_product_id:
        matches = [i for i in outcome.items if i.product_id == product.naver_product_id and i.lprice]
    else:
        # Only this product's own pages: another item's result would make "Buy" open something else.
        matches = [i for i in outcome.items if i.link in own_links and i.lprice]
    for item in matches:
        offer_upsert(product=product, mall_name=item.mall_name, price=item.lprice, link=item.link)
    update = {"offers_refreshed_at": timezone.now()}
    if product.naver_product_id and matches:
        update["regular_price"] = regular_price_of(matches[0])
    Product.objects.filter(pk=product.pk).update(**update)
    return f"refreshed {len(matches)} offers"


def offers_refresh_stale(*, limit: int = 50) -> int:
    cutoff = timezone.now() - timezone.timedelta(hours=settings.OFFERS_STALE_HOURS)
    stale = Product.objects.filter(is_hidden=False, offers_refreshed_at__lt=cutoff).order_by("offers_refreshed_at")
    refreshed = 0
    for product in stale.select_related("category")[:limit]:
        if product_refresh_offers(product=product).startswith("refreshed"):
            refreshed += 1
    return refreshed


DEMO_CATEGORIES = [
    ("lighting", "Lighting", "조명"),
    ("plants", "Plants", "식물"),
    ("organizers", "Organizers", "정리용품"),
    ("accessories", "Desk accessories", "데스크 액세서리"),
    ("audio", "Audio", "오디오"),
    ("decor", "Decor", "인테리어 소품"),
    ("tech", "Tech", "디지털"),
]

# (category, title, Korean query, price, regular price or None): curated offers link to Naver
# Shopping's own search, so their buttons say "Search on 네이버쇼핑", not "Buy".
DEMO_PRODUCTS = [
    ("lighting", "LED monitor light bar", "모니터 조명 스크린바", 39_000, None),
    ("lighting", "Warm desk lamp", "LED 데스크 스탠드 조명", 45_900, 52_000),
    ("plants", "Small potted succulent", "미니 화분 식물", 12_900, None),
    ("organizers", "Wooden monitor stand", "원목 모니터 받침대", 34_800, 42_000),
    ("organizers", "Desk organizer", "데스크 정리함 수납", 19_900, None),
    ("accessories", "Leather desk mat", "데스크 매트 가죽", 24_900, None),
    ("accessories", "Headphone stand", "헤드폰 거치대", 15_900, None),
    ("audio", "Compact desk speaker", "블루투스 스피커 데스크", 59_000, 69_000),
    ("decor", "Ceramic mug", "세라믹 머그컵", 14_500, None),
]


@transaction.atomic
def catalog_load_demo() -> int:
    """Idempotent: running it twice leaves the same rows."""
    categories = {}
    for slug, name_en, name_ko in DEMO_CATEGORIES:
        categories[slug], _ = Category.objects.update_or_create(
            slug=slug, defaults={"name_en": name_en, "name_ko": name_ko}
        )
    for category_slug, title, query_ko, price, regular_price in DEMO_PRODUCTS:
        product, _ = Product.objects.update_or_create(
            title=title,
            is_curated=True,
            defaults={
                "category": categories[category_slug],
                "search_query_ko": query_ko,
                "regular_price": regular_price,
            },
        )
        link = f"https://search.shopping.naver.com/search/all?query={quote(query_ko)}"
        Offer.objects.update_or_create(
            product=product,
            mall_name="네이버쇼핑",
            link=link,
            defaults={"price": price, "fetched_at": timezone.now()},
        )
        product_prices_refresh(product=product)
    return len(DEMO_PRODUCTS)
