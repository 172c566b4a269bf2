"""The desk makeover through the real RQ workers against real Redis and PostgreSQL (tiny preset)."""

from __future__ import annotations

import io
import os

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from generation import dispatch
from generation.models import GenerationJob, Style
from gpu_worker.contract import PROGRESS_META_KEY
from gpu_worker.contract.desk_makeover import KIND as DESK_MAKEOVER
from makeovers import services as makeover_services
from shop.services import catalog_load_demo
from tests.conftest import run_django_worker_burst, run_gpu_worker_burst
from tests.fake_naver import FakeNaver
from tests.photos import make_desk_photo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _submit(client, size=(400, 300), **fields) -> GenerationJob:
    response = client.post(reverse("makeovers:new"), {"photo": io.BytesIO(make_desk_photo(size)), **fields})
    assert response.status_code == 302, response.content[:500]
    return GenerationJob.objects.latest("created_at")


def _run_workers(**env: str) -> None:
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        worker = run_gpu_worker_burst()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert worker.returncode == 0, worker.stderr[-3000:]
    run_django_worker_burst()


def test_desk_makeover_end_to_end(logged_in_client, user, redis_clean):
    catalog_load_demo()
    style = Style.objects.create(slug="cozy", name_en="Cozy", name_ko="코지", prompt_addition="warm wood")
    # A size no other test uses: perception is cached by the photo's content for the whole session,
    # and this test needs a fresh detection (its timings) before the variation's cached one.
    job = _submit(logged_in_client, size=(404, 303), style=style.pk, tone="warm", budget_max=60000)
    assert job.kind == DESK_MAKEOVER
    assert job.spec["params"]["preferences"] == {
        "tone": "warm",
        "budget_min": None,
        "budget_max": 60000,
        "include_categories": [],
        "avoid_categories": [],
    }
    assert job.spec["params"]["style"]["prompt_addition"] == "warm wood", "the style is snapshotted"
    style.prompt_addition = "changed later"
    style.save()

    _run_workers()
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, (job.error_code, job.error_message)
    result = job.result
    assert [o["role"] for o in result["outputs"]] == ["result", "result_png", "mask"]
    final = result["outputs"][0]
    assert abs(final["width"] / final["height"] - 404 / 303) < 0.01, "original framing, not a square"
    stored = Image.open(default_storage.open(final["key"]))
    assert stored.size == (final["width"], final["height"])

    data = result["data"]
    assert data["seed"] == job.spec["params"]["seed"]
    assert "warm wood" in data["prompt"]
    assert data["planner"] == "local"
    assert 3 <= len(data["items"]) <= 6
    for item in data["items"]:
        assert item["query_ko"]
        if item["hotspot"] is not None:
            assert 0 <= item["hotspot"]["x"] <= 1
            assert 0 <= item["hotspot"]["y"] <= 1
    assert {"detect", "segment", "inpaint", "locate", "upscale"} <= set(result["timings"])
    assert set(result["models"]) == {"detector", "segmenter", "inpaint", "upscaler"}
    gpu_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
    assert gpu_job.get_meta()[PROGRESS_META_KEY]["stage"] == "done"

    recommendations = list(job.recommendations.order_by("position"))
    assert [r.label for r in recommendations] == [i["label"] for i in data["items"]]
    assert all(r.offers.exists() for r in recommendations), "every item has offers (curated: no Naver key)"
    assert all(o.price <= 60000 for r in recommendations for o in r.offers.all()), "within the budget"
    page = logged_in_client.get(reverse("makeovers:detail", args=[job.id])).content.decode()
    assert "What we added" in page
    assert data["items"][0]["label"].capitalize() in page
    assert "/shop/go/" in page, "buy links on the item cards"

    # A new variation of the same photo: new seed, perception comes from the cache.
    variation = makeover_services.makeover_create(owner=user, upload=job.upload, style=style, seed=data["seed"] + 1)
    _run_workers()
    variation.refresh_from_db()
    assert variation.status == GenerationJob.Status.SUCCEEDED
    assert variation.result["data"]["perception_cached"] is True
    assert "detect" not in variation.result["timings"]
    assert variation.result["data"]["prompt"] != data["prompt"], "the style as it is now"


def test_a_photo_that_is_not_a_desk_fails_with_a_clear_reason(logged_in_client, user, redis_clean):
    job = _submit(logged_in_client)
    # Nothing can score above 1.0: the detector finds nothing, as on a photo of a cat.
    _run_workers(ONTOP_GPU_BOX_THRESHOLD="1.01")
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED
    assert job.error_code == "not_a_desk"
    page = logged_in_client.get(reverse("makeovers:detail", args=[job.id])).content.decode()
    assert "doesn&#x27;t look like a desk" in page


def test_desk_makeover_offers_come_from_naver_when_configured(logged_in_client, user, redis_clean, settings):
    with FakeNaver() as naver:
        settings.NAVER_CLIENT_ID, settings.NAVER_CLIENT_SECRET = "id", "secret"
        settings.NAVER_API_BASE_URL = naver.base_url
        catalog_load_demo()
        job = _submit(logged_in_client)
        _run_workers()
        job.refresh_from_db()
        assert job.status == GenerationJob.Status.SUCCEEDED
        assert naver.requests, "the Django-side worker asked Naver"
        for recommendation in job.recommendations.all():
            offers = list(recommendation.offers.select_related("product"))
            assert offers, recommendation.label
            assert all(offer.product.naver_product_id for offer in offers)
