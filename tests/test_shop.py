"""Shop behaviour against real PostgreSQL/Redis: search budget and cache, offers for makeovers,
buy links, listings and their query counts."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.core import signing
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generation.models import GenerationJob, Upload
from gpu_worker.contract import JobResult, JobSpec, JobStatus, decode
from gpu_worker.contract.desk_makeover import KIND as DESK_MAKEOVER
from gpu_worker.contract.desk_makeover import DeskPreferences, Hotspot, PlannedItem
from shop import selectors, services
from shop.links import buy_url
from shop.models import Category, NaverApiUsage, Offer, OfferClick, PricePoint, Product, Recommendation
from shop.naver.search import search_shopping
from tests.fake_naver import FakeNaver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo_catalog(db):
    services.catalog_load_demo()


@pytest.fixture
def naver(settings):
    with FakeNaver() as server:
        settings.NAVER_CLIENT_ID = "id"
        settings.NAVER_CLIENT_SECRET = "secret"
        settings.NAVER_API_BASE_URL = server.base_url
        settings.NAVER_MAX_RETRIES = 1
        yield server


def _finished_job(user, items: list[dict], preferences: dict | None = None) -> GenerationJob:
    upload = Upload.objects.create(owner=user, image="uploads/x.jpg", width=10, height=10)
    job = GenerationJob(owner=user, upload=upload, kind=DESK_MAKEOVER)
    job.spec = JobSpec(
        job_id=str(job.id),
        kind=DESK_MAKEOVER,
        inputs={"photo": "uploads/x.jpg"},
        output_prefix="results/x/",
        params={"seed": 1, "preferences": preferences or {}},
    ).to_dict()
    job.result = JobResult(job_id=str(job.id), status=JobStatus.SUCCEEDED, data={"items": items}).to_dict()
    job.status = GenerationJob.Status.SUCCEEDED
    job.save()
    return job


def _attach(job: GenerationJob) -> int:
    """What the makeover's success handler hands the shop: the planned items and the preferences, typed."""
    items = [
        PlannedItem(
            label=i["label"],
            query_ko=i["query_ko"],
            category=i["category"],
            placement=i["placement"],
            hotspot=Hotspot(x=i["hotspot"]["x"], y=i["hotspot"]["y"], box=[0, 0, 1, 1], score=1.0)
            if i.get("hotspot")
            else None,
        )
        for i in job.result["data"]["items"]
    ]
    preferences = decode(DeskPreferences, job.spec["params"]["preferences"])
    return services.job_offers_attach(job=job, items=items, preferences=preferences)


ITEMS = [
    {
        "label": "desk lamp",
        "query_ko": "LED 데스크 스탠드 조명",
        "category": "lighting",
        "placement": "left",
        "hotspot": {"x": 0.2, "y": 0.4},
    },
    {"label": "plant", "query_ko": "미니 화분 식물", "category": "plants", "placement": "right", "hotspot": None},
    {
        "label": "desk mat",
        "query_ko": "데스크 매트 가죽",
        "category": "accessories",
        "placement": "front",
        "hotspot": {"x": 0.5, "y": 0.8},
    },
]


# ---- search: cache, budget, degradation -------------------------------------------------------


def test_results_are_cached_by_normalised_query(naver):
    first = search_shopping("LED  데스크 스탠드")
    again = search_shopping("led 데스크   스탠드")
    assert first.source == "naver"
    assert again.source == "cache"
    assert [i.title for i in again.items] == [i.title for i in first.items]
    assert len(naver.requests) == 1
    assert NaverApiUsage.objects.get(day=timezone.localdate()).calls == 1


def test_spent_budget_stops_calls_and_serves_the_cache(naver, settings):
    settings.NAVER_DAILY_CALL_LIMIT = 1
    search_shopping("조명")
    settings.NAVER_CACHE_SECONDS = 0  # everything cached is now stale
    stale = search_shopping("조명")
    fresh_query = search_shopping("화분")
    assert stale.source == "stale-cache"
    assert stale.items
    assert stale.error == "daily Naver budget spent"
    assert fresh_query.source == "none"
    assert len(naver.requests) == 1, "no call past the budget"


def test_naver_down_serves_stale_results_or_nothing(naver, settings):
    search_shopping("조명")
    settings.NAVER_CACHE_SECONDS = 0
    naver.fail(500)
    naver.fail(500)
    outcome = search_shopping("조명")
    assert outcome.source == "stale-cache"
    assert "HTTP 500" in outcome.error
    assert NaverApiUsage.objects.get(day=timezone.localdate()).failures == 1


# ---- offers for a makeover -------------------------------------------------------------------


def test_finished_makeover_gets_naver_offers_for_each_item(naver, user, demo_catalog):
    job = _finished_job(user, ITEMS, preferences={"budget_max": 40000})
    assert _attach(job) == 3
    recommendations = list(job.recommendations.order_by("position"))
    assert [r.label for r in recommendations] == ["desk lamp", "plant", "desk mat"]
    assert recommendations[0].hotspot_x == 0.2
    assert recommendations[1].hotspot_x is None
    for rec in recommendations:
        offers = list(rec.offers.all())
        assert offers, rec.label
        assert all(o.price <= 40000 for o in offers), "within the person's budget"
        assert all(o.product.naver_product_id for o in offers), "from Naver, not the curated catalog"
        assert [o.price for o in rec.offers.order_by("recommendationoffer__rank")] == sorted(o.price for o in offers)
    lamp = recommendations[0].offers.order_by("price").first()
    assert "스탠드" in lamp.product.title or "조명" in lamp.product.title, "filtered by the planner's category"
    assert _attach(job) == 0, "idempotent"
    assert Product.objects.filter(naver_product_id=lamp.product.naver_product_id).count() == 1


def test_products_are_deduplicated_by_naver_id_across_makeovers(naver, user, demo_catalog):
    _attach(_finished_job(user, ITEMS[:1]))
    _attach(_finished_job(user, ITEMS[:1]))
    lamp_ids = Product.objects.filter(naver_product_id__isnull=False, category__slug="lighting")
    assert lamp_ids.count() == len(set(lamp_ids.values_list("naver_product_id", flat=True)))
    assert max(lamp_ids.values_list("recommended_count", flat=True)) == 2


def test_without_credentials_offers_come_from_the_curated_catalog(user, demo_catalog, settings):
    settings.NAVER_CLIENT_ID = settings.NAVER_CLIENT_SECRET = ""
    job = _finished_job(user, ITEMS)
    _attach(job)
    for rec in job.recommendations.all():
        offers = list(rec.offers.select_related("product"))
        assert offers
        assert all(o.product.is_curated for o in offers)
        assert all(o.product.category == rec.category for o in offers)
    stand = job.recommendations.create(
        position=9,
        label="monitor stand",
        query_ko="원목 모니터 받침대",
        category=Category.objects.get(slug="organizers"),
    )
    offers = services.curated_offers(
        query_ko=stand.query_ko, category=stand.category, budget=services.Budget(), count=3
    )
    assert [o.product.title for o in offers] == ["Wooden monitor stand"], "only the matching curated product"


def test_nothing_over_the_budget_is_offered(user, demo_catalog, settings):
    settings.NAVER_CLIENT_ID = settings.NAVER_CLIENT_SECRET = ""
    job = _finished_job(user, ITEMS, preferences={"budget_max": 20000})
    _attach(job)
    by_label = {r.label: list(r.offers.all()) for r in job.recommendations.all()}
    assert by_label["desk lamp"] == [], "the cheapest curated lamp costs 39,000원"
    assert [o.price for o in by_label["plant"]] == [12900]
    page_offers = [o.price for offers in by_label.values() for o in offers]
    assert all(price <= 20000 for price in page_offers)


# ---- buy links -------------------------------------------------------------------------------


def test_buy_link_counts_the_click_and_redirects_to_the_stored_link(client, user, demo_catalog):
    job = _finished_job(user, ITEMS[:1])
    _attach(job)
    rec = job.recommendations.get()
    offer = rec.offers.first()
    response = client.get(buy_url(offer_id=offer.pk, recommendation_id=rec.pk))
    assert response.status_code == 302
    assert response["Location"] == offer.link
    assert urlparse(response["Location"]).hostname.endswith("naver.com")
    offer.refresh_from_db()
    assert offer.click_count == 1
    assert offer.product.__class__.objects.get(pk=offer.product_id).click_count == 1
    click = OfferClick.objects.get()
    assert click.job_id == job.id
    assert click.recommendation_id == rec.pk


def test_tampered_or_hidden_buy_links_are_404(client, demo_catalog):
    offer = Offer.objects.first()
    url = buy_url(offer_id=offer.pk)
    token = url.rstrip("/").split("/")[-1]
    _payload, signature = token.split(":")
    other = Offer.objects.exclude(pk=offer.pk).first()
    forged_payload = signing.b64_encode(f"[{other.pk},null]".encode()).decode()
    assert client.get(reverse("shop:go", args=[f"{forged_payload}:{signature}"])).status_code == 404
    assert client.get(url).status_code == 302, "the genuine token works"
    assert client.get(reverse("shop:go", args=["not-a-token"])).status_code == 404
    assert client.get("/shop/go/https:%2F%2Fevil.example/").status_code == 404
    Offer.objects.filter(pk=offer.pk).update(is_hidden=True)
    assert client.get(url).status_code == 404
    assert OfferClick.objects.count() == 1, "only the genuine click counted"


# ---- listings ----------------------------------------------------------------------------------


def _make_products(count: int, category: Category, start: int = 0) -> None:
    for i in range(start, start + count):
        product = Product.objects.create(title=f"조명 {i}", category=category, search_query_ko="조명")
        services.offer_upsert(
            product=product, mall_name="몰", price=10000 + i, link=f"https://smartstore.naver.com/{i}"
        )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url",
    [
        "/shop/",
        "/shop/?category=lighting&ordering=price",
        "/shop/recommended/",
        "/shop/deals/",
        "/shop/?q=조명 lamp",
        "/api/shop/products/",
        "/api/shop/products/?ordering=deals",
        "/api/shop/products/?q=조명&ordering=popular",
    ],
)
def test_listing_query_counts_stay_flat_as_the_catalog_grows(client, demo_catalog, url):
    lighting = Category.objects.get(slug="lighting")
    Product.objects.update(recommended_count=1)
    _make_products(3, lighting)
    small = _queries(client, url)
    _make_products(30, lighting, start=3)
    Product.objects.update(recommended_count=1)
    assert _queries(client, url) == small


def test_search_category_popular_and_deals(client, demo_catalog):
    response = client.get("/shop/?q=화분")
    titles = [p.title for p in response.context["page"]]
    assert titles == ["Small potted succulent"]
    lighting = client.get("/shop/?category=lighting").context["page"]
    assert {p.category.slug for p in lighting} == {"lighting"}

    mug = Product.objects.get(title="Ceramic mug")
    Product.objects.filter(pk=mug.pk).update(recommended_count=5, click_count=2)
    recommended = [p.title for p in client.get("/shop/recommended/").context["page"]]
    assert recommended[0] == "Ceramic mug"

    Product.objects.update(regular_price=None)  # price history alone makes this deal
    today = timezone.localdate()
    for days_ago, price in ((10, 20000), (5, 18000)):
        PricePoint.objects.create(product=mug, day=today - timedelta(days=days_ago), lowest_price=price)
    deals = list(client.get("/shop/deals/").context["page"])
    assert [p.title for p in deals] == ["Ceramic mug"], "14,500 today vs ~19,000 recently"
    assert selectors.discount_percent(deals[0]) == 24, "14,500 vs 19,000"


def test_product_detail_shows_offers_and_only_my_makeovers(client, user, other_user, demo_catalog):
    mine = _finished_job(user, ITEMS[:1])
    theirs = _finished_job(other_user, ITEMS[:1])
    _attach(mine)
    _attach(theirs)
    product = Recommendation.objects.get(job=mine).offers.first().product
    client.force_login(user)
    response = client.get(reverse("shop:detail", args=[product.pk]))
    assert response.status_code == 200
    assert list(response.context["makeovers"]) == [mine]
    assert "/shop/go/" in response.content.decode()
    Product.objects.filter(pk=product.pk).update(is_hidden=True)
    assert client.get(reverse("shop:detail", args=[product.pk])).status_code == 404


def test_api_products_categories_and_makeover_offers(client, user, demo_catalog):
    assert {c["slug"] for c in client.get("/api/shop/categories/").json()} >= {"lighting", "plants"}
    listing = client.get("/api/shop/products/?category=plants").json()
    assert listing["count"] == 1
    detail = client.get(f"/api/shop/products/{listing['results'][0]['id']}/").json()
    assert detail["offers"][0]["buy_url"].startswith("http://testserver/shop/go/")
    assert client.get("/api/shop/products/?ordering=cheapest").status_code == 400

    job = _finished_job(user, ITEMS)
    _attach(job)
    client.force_login(user)
    body = client.get(f"/api/makeovers/{job.id}/").json()
    assert [item["label"] for item in body["items"]] == ["desk lamp", "plant", "desk mat"]
    assert body["items"][0]["hotspot"] == {"x": 0.2, "y": 0.4}
    assert all(item["offers"] for item in body["items"])


def test_pager_links_keep_the_search_and_category(client, demo_catalog):
    lighting = Category.objects.get(slug="lighting")
    _make_products(30, lighting)
    page = client.get("/shop/?q=조명&category=lighting&ordering=price").content.decode()
    assert "?q=%EC%A1%B0%EB%AA%85&amp;category=lighting&amp;ordering=price&amp;page=2" in page
