"""Shop listings against real PostgreSQL: trigram search, deals, "most recommended" vs "popular",
pictures, the product page's makeovers, and malformed filters."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from generation.models import GenerationJob, Upload
from gpu_worker.contract import JobResult, JobSpec, JobStatus
from gpu_worker.contract.desk_makeover import KIND as DESK_MAKEOVER
from shop import selectors, services
from shop.models import Category, Product, Recommendation, RecommendationOffer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def lighting(db) -> Category:
    return Category.objects.create(slug="lighting", name_en="Lighting", name_ko="조명")


def _product(title: str, category: Category, price: int, **fields) -> Product:
    product = Product.objects.create(title=title, category=category, **fields)
    services.offer_upsert(
        product=product, mall_name="스마트스토어", price=price, link=f"https://smartstore.naver.com/p/{product.pk}"
    )
    return product


def _titles(response) -> list[str]:
    assert response.status_code == 200
    return [p.title for p in response.context["page"]]


def _api_titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["title"] for p in response.json()["results"]]


@pytest.fixture
def catalog(lighting) -> dict[str, Product]:
    audio = Category.objects.create(slug="audio", name_en="Audio", name_ko="오디오")
    return {
        "lamp_ko": _product("LED 스탠드 램프", lighting, 32_000, search_query_ko="LED 스탠드 램프"),
        "lamp_en": _product("Desk Lamp Pro", lighting, 45_000),
        "clamp": _product("Clamp light", lighting, 21_000),
        "stand": _product("원목모니터받침대", lighting, 30_000),
        "speaker": _product("Compact desk speaker", audio, 59_000, brand="브리츠"),
    }


# ---- search ------------------------------------------------------------------------------------


def test_korean_word_finds_the_korean_name(client, catalog):
    assert _titles(client.get("/shop/", {"q": "램프"})) == ["LED 스탠드 램프"]


def test_english_word_finds_the_english_name_best_match_first(client, catalog):
    # "Clamp light" holds "lamp" too, but "Desk Lamp Pro" has the word itself: it comes first.
    assert _titles(client.get("/shop/", {"q": "lamp"})) == ["Desk Lamp Pro", "Clamp light"]


def test_korean_word_inside_a_compound_name(client, catalog):
    assert _titles(client.get("/shop/", {"q": "모니터"})) == ["원목모니터받침대"]


def test_typos_are_tolerated(client, catalog):
    assert _titles(client.get("/shop/", {"q": "speakr"})) == ["Compact desk speaker"]
    assert _titles(client.get("/shop/", {"q": "desk lampp"})) == ["Desk Lamp Pro"]


def test_every_word_must_match_and_brands_count(client, catalog):
    assert _titles(client.get("/shop/", {"q": "브리츠 speaker"})) == ["Compact desk speaker"]
    assert _titles(client.get("/shop/", {"q": "램프 speaker"})) == []


def test_api_search_matches_the_page(catalog):
    api = APIClient()
    assert _api_titles(api.get("/api/shop/products/", {"q": "lamp"})) == ["Desk Lamp Pro", "Clamp light"]
    assert _api_titles(api.get("/api/shop/products/", {"q": "램프"})) == ["LED 스탠드 램프"]
    assert _api_titles(api.get("/api/shop/products/", {"q": "speakr"})) == ["Compact desk speaker"]


def test_search_can_use_the_trigram_index(catalog, lighting):
    Product.objects.bulk_create(
        Product(title=f"상품 {i}", category=lighting, lowest_price=1000 + i, search_query_ko="상품")
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchall() == [("pg_trgm",)]
        cursor.execute("ANALYZE shop_product")
        # Only a scan with an index condition is left: the search's own must be one.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        for words in (["스탠드"], ["lamp"], ["램프"], ["speakr", "desk"]):
            matching = selectors.products_matching(Product.objects.all(), words)
            sql, params = matching.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Bitmap Index Scan on product_search_trgm" in plan, plan
            assert "Seq Scan" not in plan, plan


def test_search_words_with_like_wildcards_are_literal(client, catalog):
    assert _titles(client.get("/shop/", {"q": "%"})) == []
    assert _titles(client.get("/shop/", {"q": "_"})) == []


# ---- deals ---------------------------------------------------------------------------------------


def test_discounted_offers_are_deals_without_any_price_history(client, lighting):
    _product("Half-price lamp", lighting, 10_000, regular_price=20_000)
    _product("Barely cheaper lamp", lighting, 19_500, regular_price=20_000)  # 2.5 %: no deal
    _product("Lamp at its price", lighting, 20_000)
    response = client.get("/shop/deals/")
    assert _titles(response) == ["Half-price lamp"]
    assert "−50%" in response.content.decode()
    assert "20,000원" in response.content.decode(), "the price it is compared with"


def test_the_demo_catalog_has_deals(client):
    services.catalog_load_demo()
    deals = list(client.get("/shop/deals/").context["page"])
    assert [(p.title, selectors.discount_percent(p)) for p in deals] == [
        ("Wooden monitor stand", 17),
        ("Compact desk speaker", 14),
        ("Warm desk lamp", 12),
    ]


def test_naver_s_highest_price_becomes_the_regular_price(settings, lighting):
    from tests.fake_naver import FakeNaver, item_product_id

    with FakeNaver() as naver:
        settings.NAVER_CLIENT_ID, settings.NAVER_CLIENT_SECRET = "id", "secret"
        settings.NAVER_API_BASE_URL = naver.base_url
        services.offers_for_item(query_ko="모니터 조명", category=lighting, budget=services.Budget())
    light_bar = Product.objects.get(naver_product_id=item_product_id(1))
    assert (light_bar.lowest_price, light_bar.regular_price) == (45_900, 52_000)
    assert Product.objects.get(naver_product_id=item_product_id(0)).regular_price is None, "hprice empty"
    assert [p.pk for p in selectors.deals_today()] == [light_bar.pk]


def test_api_deals_keep_the_category_filter(lighting):
    audio = Category.objects.create(slug="audio", name_en="Audio", name_ko="오디오")
    _product("Lamp deal", lighting, 10_000, regular_price=20_000)
    _product("Speaker deal", audio, 50_000, regular_price=60_000)
    body = APIClient().get("/api/shop/products/", {"ordering": "deals", "category": "audio"}).json()
    assert [(p["title"], p["discount_percent"], p["reference_price"]) for p in body["results"]] == [
        ("Speaker deal", 17, 60_000)
    ]


# ---- most recommended vs popular -----------------------------------------------------------------


def test_most_recommended_and_popular_are_different_lists(client, lighting):
    _product("Often recommended", lighting, 10_000, recommended_count=5, click_count=0)
    _product("Often bought", lighting, 20_000, recommended_count=1, click_count=9)
    _product("Never recommended", lighting, 30_000, recommended_count=0, click_count=3)
    assert _titles(client.get("/shop/recommended/")) == ["Often recommended", "Often bought"]
    assert _titles(client.get("/shop/", {"ordering": "popular"})) == [
        "Often bought",
        "Never recommended",
        "Often recommended",
    ]
    assert _titles(client.get("/shop/", {"ordering": "recommended"})) == [
        "Often recommended",
        "Often bought",
        "Never recommended",
    ]
    api = APIClient()
    assert _api_titles(api.get("/api/shop/products/", {"ordering": "popular"}))[0] == "Often bought"
    assert _api_titles(api.get("/api/shop/products/", {"ordering": "recommended"}))[0] == "Often recommended"


def test_the_old_popular_address_moved_to_most_recommended(client):
    response = client.get("/shop/popular/")
    assert (response.status_code, response["Location"]) == (301, "/shop/recommended/")


# ---- pictures -------------------------------------------------------------------------------------


def test_cards_and_detail_show_a_picture_for_every_product(client, lighting):
    drawn = _product("Curated lamp", lighting, 10_000)
    photographed = _product("Naver lamp", lighting, 12_000, image_url="https://shopping-phinf.pstatic.net/main_1/1.jpg")
    Category.objects.create(slug="chairs", name_en="Chairs", name_ko="의자")
    other = _product("Chair", Category.objects.get(slug="chairs"), 50_000)
    page = client.get("/shop/", {"ordering": "price"}).content.decode()
    pictures = re.findall(r'<span class="picture"><img src="([^"]+)"', page)
    assert pictures == [
        "/static/shop/pictures/lighting.svg",
        "https://shopping-phinf.pstatic.net/main_1/1.jpg",
        "/static/shop/pictures/product.svg",
    ]
    assert finders.find("shop/pictures/lighting.svg")
    assert finders.find("shop/pictures/product.svg")
    for product, src in ((drawn, pictures[0]), (photographed, pictures[1]), (other, pictures[2])):
        detail = client.get(reverse("shop:detail", args=[product.pk])).content.decode()
        assert f'<img src="{src}" alt="{product.title}" class="product-picture">' in detail


# ---- the product page's makeovers -------------------------------------------------------------------


def _makeover_with(product: Product, owner) -> GenerationJob:
    upload = Upload.objects.create(owner=owner, image="uploads/x.jpg", width=10, height=10)
    job = GenerationJob(owner=owner, upload=upload, kind=DESK_MAKEOVER, status=GenerationJob.Status.SUCCEEDED)
    job.spec = JobSpec(
        job_id=str(job.id), kind=DESK_MAKEOVER, inputs={"photo": "uploads/x.jpg"}, output_prefix="results/x/"
    ).to_dict()
    job.result = JobResult(job_id=str(job.id), status=JobStatus.SUCCEEDED, data={"items": []}).to_dict()
    job.save()
    rec = Recommendation.objects.create(job=job, position=0, label="lamp", query_ko="램프")
    RecommendationOffer.objects.create(recommendation=rec, offer=product.offers.get(), rank=0)
    return job


def test_product_page_lists_my_makeovers_as_linked_thumbnails(client, user, other_user, lighting):
    lamp = _product("Lamp", lighting, 10_000)
    older, newer = _makeover_with(lamp, user), _makeover_with(lamp, user)
    _makeover_with(lamp, other_user)
    client.force_login(user)
    page = client.get(reverse("shop:detail", args=[lamp.pk])).content.decode()
    thumbs = re.findall(r'<a href="/makeovers/([0-9a-f-]+)/"><img src="/jobs/([0-9a-f-]+)/image/thumb/"', page)
    assert thumbs == [(str(newer.id), str(newer.id)), (str(older.id), str(older.id))]


# ---- malformed filters --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [{"q": "\x00"}, {"category": "\x00"}, {"q": "램프\x00"}, {"category": "a b"}])
def test_malformed_filters_are_a_400_that_says_so(client, catalog, query):
    response = client.get("/shop/", query)
    assert response.status_code == 400
    assert list(response.context["page"]) == []
    assert "These filters cannot be read." in response.content.decode()


def test_unknown_sort_order_falls_back_to_the_default(client, catalog):
    assert _titles(client.get("/shop/", {"q": "lamp", "ordering": "cheapest"})) == ["Desk Lamp Pro", "Clamp light"]


@pytest.mark.parametrize("query", [{"q": "\x00"}, {"category": "\x00"}])
def test_api_refuses_nul_characters(query):
    response = APIClient().get("/api/shop/products/", query)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["fields"])) == ("invalid", list(query))
