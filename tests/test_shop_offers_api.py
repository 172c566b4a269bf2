"""What "Buy" opens, what an offer says about its product in the API, and a shop schema that tells
the truth (public, paginated, documented errors), checked against real responses."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from generation.models import GenerationJob, Upload
from gpu_worker.contract import JobResult, JobSpec, JobStatus
from gpu_worker.contract.desk_makeover import KIND as DESK_MAKEOVER
from gpu_worker.contract.desk_makeover import DeskPreferences, Hotspot, PlannedItem
from shop import services
from shop.api import RecommendationOutput
from shop.models import Category, Product, RecommendationOffer
from shop.selectors import job_recommendations
from tests.fake_naver import CATALOG, FakeNaver, item_image, item_link, item_product_id

pytestmark = pytest.mark.django_db

OFFER_KEYS = {"id", "mall_name", "price", "fetched_at", "link_kind", "buy_url", "product"}
OFFER_PRODUCT_KEYS = {"id", "title", "brand", "image_url"}
SHOP_PATHS = ("/api/shop/categories/", "/api/shop/products/", "/api/shop/products/{product_id}/")


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def naver(settings):
    with FakeNaver() as server:
        settings.NAVER_CLIENT_ID = "id"
        settings.NAVER_CLIENT_SECRET = "secret"
        settings.NAVER_API_BASE_URL = server.base_url
        settings.NAVER_MAX_RETRIES = 1
        yield server


def _makeover(user) -> GenerationJob:
    """A finished makeover with one recommended lamp, its offers attached by the shop."""
    services.catalog_load_demo()
    upload = Upload.objects.create(owner=user, image="uploads/x.jpg", width=10, height=10)
    job = GenerationJob(owner=user, upload=upload, kind=DESK_MAKEOVER, status=GenerationJob.Status.SUCCEEDED)
    job.spec = JobSpec(
        job_id=str(job.id),
        kind=DESK_MAKEOVER,
        inputs={"photo": "uploads/x.jpg"},
        output_prefix="results/x/",
        params={"seed": 1, "preferences": {}},
    ).to_dict()
    job.result = JobResult(job_id=str(job.id), status=JobStatus.SUCCEEDED, data={"items": []}).to_dict()
    job.save()
    lamp = PlannedItem(
        label="desk lamp",
        query_ko="LED 데스크 스탠드 조명",
        category="lighting",
        placement="left",
        hotspot=Hotspot(x=0.2, y=0.4, box=[0, 0, 1, 1], score=1.0),
    )
    services.job_offers_attach(job=job, items=[lamp], preferences=DeskPreferences())
    return job


def _shown(job) -> list[RecommendationOffer]:
    return list(job_recommendations(job=job)[0].visible_offers)


# ---- "Buy" opens the offer that was shown -------------------------------------------------------------


def test_buy_opens_the_product_page_naver_gave_for_the_shown_item(client, user, naver):
    shown = _shown(_makeover(user))
    assert [link.offer.product.title for link in shown] == [
        "LED 데스크 스탠드 조명 무선 충전",
        "모니터 조명 스크린바 LED",
    ]
    for index, link in enumerate(shown):
        assert link.offer.link_kind == "product"
        response = client.get(link.buy_url)
        assert (response.status_code, response["Location"]) == (302, item_link(index))
        assert link.offer.product.naver_product_id == item_product_id(index)


def test_a_search_offer_says_it_is_a_search(client, settings):
    settings.NAVER_CLIENT_ID = settings.NAVER_CLIENT_SECRET = ""
    services.catalog_load_demo()
    lamp = Product.objects.get(title="Warm desk lamp")
    page = client.get(reverse("shop:detail", args=[lamp.pk])).content.decode()
    assert "Search on 네이버쇼핑" in page
    assert ">Buy<" not in page
    offer = APIClient().get(f"/api/shop/products/{lamp.pk}/").json()["offers"][0]
    assert offer["link_kind"] == "search"
    response = client.get(offer["buy_url"])
    assert response["Location"].startswith("https://search.shopping.naver.com/search/all?query=")


def test_a_product_offer_says_buy(client, lighting_product):
    page = client.get(reverse("shop:detail", args=[lighting_product.pk])).content.decode()
    assert ">Buy<" in page
    assert "Search on" not in page


@pytest.fixture
def lighting_product(db) -> Product:
    lighting = Category.objects.create(slug="lighting", name_en="Lighting", name_ko="조명")
    product = Product.objects.create(title="Desk Lamp Pro", brand="Lumi", category=lighting)
    services.offer_upsert(
        product=product, mall_name="스마트스토어", price=30_000, link="https://smartstore.naver.com/main/products/1"
    )
    return product


def test_refreshing_a_curated_product_never_gives_it_another_item_s_offers(naver):
    services.catalog_load_demo()
    stand = Product.objects.get(title="Wooden monitor stand")
    Product.objects.filter(pk=stand.pk).update(offers_refreshed_at=timezone.now() - timezone.timedelta(days=2))
    before = list(stand.offers.values_list("link", flat=True))
    assert services.product_refresh_offers(product=stand) == "skipped: nothing to re-price (its offers are searches)"
    assert list(stand.offers.values_list("link", flat=True)) == before
    assert naver.requests == [], "no Naver call spent on it"


def test_refreshing_a_naver_product_reprices_its_own_page(naver, lighting_product):
    Product.objects.filter(pk=lighting_product.pk).update(naver_product_id=item_product_id(1))
    lighting_product.refresh_from_db()
    assert services.product_refresh_offers(product=lighting_product) == "refreshed 1 offers"
    assert sorted(lighting_product.offers.values_list("link", "price")) == [
        ("https://smartstore.naver.com/main/products/1", 30_000),
        (item_link(1), CATALOG[1][5]),
    ]
    lighting_product.refresh_from_db()
    assert lighting_product.regular_price == 52_000


def test_hiding_the_cheapest_offer_in_the_admin_raises_the_listed_price(client, lighting_product):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123-long-enough")
    client.force_login(admin)
    expensive = services.offer_upsert(
        product=lighting_product, mall_name="11번가", price=35_000, link="https://www.11st.co.kr/products/1"
    )
    cheapest = lighting_product.offers.get(price=30_000)
    response = client.post(
        reverse("admin:shop_offer_changelist"),
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": str(cheapest.pk),
            "form-0-is_hidden": "on",
            "form-1-id": str(expensive.pk),
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert Product.objects.get(pk=lighting_product.pk).lowest_price == 35_000


# ---- offers in the API carry their product ------------------------------------------------------------


def test_makeover_offers_carry_the_product_s_name_id_and_picture(user, naver):
    job = _makeover(user)
    offers = RecommendationOutput(job_recommendations(job=job), many=True).data[0]["offers"]
    first = offers[0]
    assert set(first) == OFFER_KEYS
    product = Product.objects.get(naver_product_id=item_product_id(0))
    assert first["product"] == {
        "id": product.pk,
        "title": "LED 데스크 스탠드 조명 무선 충전",
        "brand": "루미",
        "image_url": item_image(0),
    }
    assert (first["mall_name"], first["price"], first["link_kind"]) == ("스마트스토어", 32_900, "product")


def test_makeover_api_embeds_the_offers_with_their_product(user, naver):
    job = _makeover(user)
    api = APIClient()
    api.force_authenticate(user)
    response = api.get(f"/api/makeovers/{job.id}/")
    assert response.status_code == 200, response.content
    offer = response.json()["items"][0]["offers"][0]
    assert set(offer) == OFFER_KEYS
    assert offer["product"]["title"] == "LED 데스크 스탠드 조명 무선 충전"
    assert offer["buy_url"].startswith("http://testserver/shop/go/")


def test_product_detail_offers_carry_the_product_with_an_absolute_picture(lighting_product):
    body = APIClient().get(f"/api/shop/products/{lighting_product.pk}/").json()
    assert body["image_url"] == "http://testserver/static/shop/pictures/lighting.svg"
    [offer] = body["offers"]
    assert set(offer) == OFFER_KEYS
    assert offer["product"] == {
        "id": lighting_product.pk,
        "title": "Desk Lamp Pro",
        "brand": "Lumi",
        "image_url": "http://testserver/static/shop/pictures/lighting.svg",
    }
    assert offer["link_kind"] == "product"


# ---- errors ---------------------------------------------------------------------------------------------


def test_unknown_product_is_a_404_that_names_no_model():
    api = APIClient()
    assert api.get("/api/shop/products/987654/").json() == {"code": "not_found", "message": "No such product."}
    korean = api.get("/api/shop/products/987654/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert korean == {"code": "not_found", "message": "그런 상품이 없어요."}
    assert api.get(f"/api/shop/products/{2**70}/").status_code == 404


def test_a_page_past_the_end_is_a_404(lighting_product):
    body = APIClient().get("/api/shop/products/", {"page": 2}).json()
    assert body["code"] == "not_found"


def test_shop_needs_no_token_and_a_stale_one_does_not_lock_it_out(lighting_product):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    for url in ("/api/shop/categories/", "/api/shop/products/", f"/api/shop/products/{lighting_product.pk}/"):
        assert api.get(url).status_code == 200, url


# ---- the schema tells the truth --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema(openapi_schema_yaml) -> dict:
    return yaml.safe_load(openapi_schema_yaml)


def _ref(schema: dict, response: dict) -> str:
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_shop_operations_are_public(schema):
    for path in SHOP_PATHS:
        operation = schema["paths"][path]["get"]
        assert "security" not in operation, path
        assert "401" not in operation["responses"], path


def test_the_product_list_is_documented_as_pages(schema):
    operation = schema["paths"]["/api/shop/products/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"q", "category", "ordering", "page", "page_size"}
    page = schema["components"]["schemas"][_ref(schema, operation["responses"]["200"])]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"]["items"]["$ref"].endswith("/ProductOutput")
    categories = schema["paths"]["/api/shop/categories/"]["get"]["responses"]["200"]
    assert categories["content"]["application/json"]["schema"]["type"] == "array"


def test_shop_errors_are_documented_with_their_body(schema):
    products = schema["paths"]["/api/shop/products/"]["get"]["responses"]
    detail = schema["paths"]["/api/shop/products/{product_id}/"]["get"]["responses"]
    invalid = schema["components"]["schemas"][_ref(schema, products["400"])]
    assert {"code", "message", "fields"} <= set(invalid["properties"])
    for response in (products["404"], detail["404"], detail["429"]):
        assert {"code", "message"} <= set(schema["components"]["schemas"][_ref(schema, response)]["properties"])


def test_offer_schema_names_the_product(schema):
    offer = schema["components"]["schemas"]["OfferOutput"]
    assert set(offer["required"]) == OFFER_KEYS
    assert offer["properties"]["product"]["$ref"].endswith("/OfferProductOutput")
    assert set(schema["components"]["schemas"]["OfferProductOutput"]["required"]) == OFFER_PRODUCT_KEYS
    recommendation = schema["components"]["schemas"]["RecommendationOutput"]
    assert recommendation["properties"]["offers"]["items"]["$ref"].endswith("/OfferOutput")


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/api/shop/categories/", {}, 200),
        ("/api/shop/products/", {}, 200),
        ("/api/shop/products/", {"q": "lamp", "page_size": 1}, 200),
        ("/api/shop/products/", {"ordering": "deals"}, 200),
        ("/api/shop/products/", {"q": "\x00"}, 400),
        ("/api/shop/products/", {"page": 9}, 404),
        ("/api/shop/products/{product_id}/", {}, 200),
        ("/api/shop/products/{product_id}/", {}, 404),
    ],
)
def test_real_responses_match_the_schema(lighting_product, path, query, status):
    from django.core.wsgi import get_wsgi_application

    # As Django's test client does: a request must not close the test's connection (and its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        api_schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        product_id = lighting_product.pk if status == 200 else 987654
        case = api_schema[path]["GET"].Case(
            query=query, path_parameters={"product_id": product_id} if "{" in path else {}
        )
        response = case.call()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert response.status_code == status, response.text
    case.validate_response(response)


def test_product_detail_query_count_stays_flat_as_offers_grow(client, lighting_product):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    urls = (f"/api/shop/products/{lighting_product.pk}/", reverse("shop:detail", args=[lighting_product.pk]))
    before = [queries(url) for url in urls]
    for i in range(5):
        services.offer_upsert(
            product=lighting_product, mall_name=f"몰 {i}", price=31_000 + i, link=f"https://smartstore.naver.com/m/{i}"
        )
    assert [queries(url) for url in urls] == before
