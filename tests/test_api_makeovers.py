"""Every makeover endpoint, including other people's ids, bad uploads, quota and cancellation."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from generation.models import GenerationJob, Style, Upload
from ontop.accounts.services import api_token_issue
from shop.services import catalog_load_demo
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(client, user, redis_clean):
    catalog_load_demo()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    return client


@pytest.fixture
def stranger(client, other_user):
    from django.test import Client

    other = Client()
    other.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=other_user)}"
    return other


@pytest.fixture
def style(db):
    return Style.objects.create(slug="cozy", name_en="Cozy", name_ko="코지", prompt_addition="warm wood")


def _upload(api, data: bytes | None = None, name="desk.jpg"):
    return api.post("/api/uploads/", {"photo": io.BytesIO(data or make_desk_photo())})


def _makeover(api, **payload):
    return api.post("/api/makeovers/", payload, content_type="application/json")


def test_everything_needs_a_token_but_the_public_styles(client):
    assert client.get("/api/styles/").status_code == 200
    for url in ("/api/uploads/", "/api/makeovers/", "/api/quota/"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"


def test_upload_then_makeover_then_read_it(api, style):
    upload = _upload(api)
    assert upload.status_code == 201
    upload_id = upload.json()["id"]
    created = _makeover(api, upload_id=upload_id, style="cozy", preferences={"tone": "warm", "budget_max": 50000})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["style"] == "cozy"
    assert body["state"]["status"] == "queued"
    assert body["state"]["stage_label"] == "Waiting in line"
    assert set(body["images"]) == {"input", "thumb"}
    job = GenerationJob.objects.get(pk=body["id"])
    assert job.spec["params"]["preferences"] == {
        "tone": "warm",
        "budget_min": None,
        "budget_max": 50000,
        "include_categories": [],
        "avoid_categories": [],
    }
    detail = api.get(f"/api/makeovers/{job.id}/").json()
    assert detail["id"] == str(job.id)
    image = api.get(detail["images"]["input"].replace("http://testserver", ""))
    assert image.status_code == 200, "a token client can fetch its own images"
    assert Image.open(io.BytesIO(b"".join(image.streaming_content))).format == "JPEG"


def test_multipart_makeover_with_a_photo_and_korean_ui(api):
    response = api.post("/api/makeovers/", {"photo": io.BytesIO(make_desk_photo())}, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 201
    assert response.json()["state"]["stage_label"] == "대기 중"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"upload_id": ["This field is required."]}),
        ({"upload_id": "not-a-uuid"}, {"upload_id": ["Must be a valid UUID."]}),
        ({"upload_id": 7}, {"upload_id": ["Must be a valid UUID."]}),
        (
            {"upload_id": str(uuid.uuid4()), "style": "no-such-style"},
            {"style": ["There is no such style. Pick one from the list."]},
        ),
        (
            {"upload_id": str(uuid.uuid4()), "preferences": {"budget_min": 9, "budget_max": 1}},
            {"preferences.budget_max": ["The upper budget must be at least the lower one."]},
        ),
        (
            {"upload_id": str(uuid.uuid4()), "preferences": {"tone": "purple"}},
            {"preferences.tone": ['"purple" is not a valid choice.']},
        ),
        (
            {"upload_id": str(uuid.uuid4()), "preferences": {"avoid_categories": ["weapons"]}},
            {"preferences.avoid_categories": ["Unknown categories: weapons."]},
        ),
        (
            {"upload_id": str(uuid.uuid4()), "preferences": {"avoid_categories": ["lighting", "bad slug!"]}},
            {
                "preferences.avoid_categories.1": [
                    'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'
                ]
            },
        ),
        (
            {"upload_id": str(uuid.uuid4()), "preferences": {"budget_max": -5}},
            {"preferences.budget_max": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({"upload_id": str(uuid.uuid4()), "colour": "red"}, {"non_field_errors": ["Unknown field(s): colour."]}),
    ],
)
def test_bad_makeover_requests_are_400_with_one_flat_shape_of_field_errors(api, payload, fields):
    response = _makeover(api, **payload)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"] == fields
    assert not GenerationJob.objects.exists()


def test_api_messages_are_in_the_requests_language(api):
    response = api.post(
        "/api/makeovers/",
        {"upload_id": str(uuid.uuid4()), "style": "nope", "colour": "red"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert response.json()["fields"] == {"non_field_errors": ["알 수 없는 항목이 있어요: colour."]}
    missing = api.get(f"/api/makeovers/{uuid.uuid4()}/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert missing == {"code": "not_found", "message": "찾을 수 없어요. 삭제되었을 수 있어요."}
    malformed = api.get("/api/makeovers/not-a-uuid/", HTTP_ACCEPT_LANGUAGE="ko")
    assert (malformed.status_code, malformed["Content-Type"]) == (404, "application/json")
    assert malformed.json()["code"] == "not_found"
    not_image = api.post("/api/uploads/", {"photo": io.BytesIO(b"%PDF-1.7 no")}, HTTP_ACCEPT_LANGUAGE="ko").json()
    assert not_image["code"] == "not_an_image"
    assert not_image["fields"] == {}
    assert not not_image["message"].isascii(), not_image["message"]


def test_bad_uploads_are_400_or_413(api, settings):
    not_image = _upload(api, b"%PDF-1.7 definitely not a photo")
    assert (not_image.status_code, not_image.json()["code"]) == (400, "not_an_image")
    truncated = _upload(api, make_desk_photo()[:300])
    assert truncated.status_code == 400
    settings.UPLOAD_MAX_BYTES = 2_000
    big = io.BytesIO()
    Image.effect_noise((300, 300), 60).convert("RGB").save(big, format="JPEG")
    too_big = _upload(api, big.getvalue())
    assert (too_big.status_code, too_big.json()["code"]) == (413, "too_large")
    assert not Upload.objects.exists()


def test_heic_photos_are_accepted_and_stored_as_jpeg(api):
    from pillow_heif import register_heif_opener

    register_heif_opener()
    heic = io.BytesIO()
    Image.open(io.BytesIO(make_desk_photo())).save(heic, format="HEIF")
    response = _upload(api, heic.getvalue())
    assert response.status_code == 201, response.content
    upload = Upload.objects.get()
    assert Image.open(default_storage.open(upload.image.name)).format == "JPEG"


def test_other_peoples_ids_are_404(api, stranger, style):
    upload_id = _upload(api).json()["id"]
    job_id = _makeover(api, upload_id=upload_id).json()["id"]
    assert _makeover(stranger, upload_id=upload_id).status_code == 404
    for method, url in [
        ("get", f"/api/makeovers/{job_id}/"),
        ("delete", f"/api/makeovers/{job_id}/"),
        ("post", f"/api/makeovers/{job_id}/variation/"),
        ("post", f"/api/makeovers/{job_id}/cancel/"),
    ]:
        response = getattr(stranger, method)(url)
        assert response.status_code == 404, (method, url)
        assert response.json()["code"] == "not_found"
    restyle = stranger.post(f"/api/makeovers/{job_id}/restyle/", {"style": "cozy"}, content_type="application/json")
    assert restyle.status_code == 404
    assert stranger.get(f"/api/makeovers/{job_id}/images/input/").status_code == 404
    assert GenerationJob.objects.count() == 1


def test_same_submission_twice_is_one_job(api):
    upload_id = _upload(api).json()["id"]
    submission = str(uuid.uuid4())
    first = _makeover(api, upload_id=upload_id, submission_id=submission).json()
    again = _makeover(api, upload_id=upload_id, submission_id=submission).json()
    assert first["id"] == again["id"]
    assert GenerationJob.objects.count() == 1


def test_quota_is_enforced_with_429_and_failures_do_not_count(api, settings, user):
    settings.DAILY_GENERATION_LIMIT = 2
    upload_id = _upload(api).json()["id"]
    quota = api.get("/api/quota/").json()
    assert (quota["limit"], quota["used"], quota["remaining"]) == (2, 0, 2)
    first = _makeover(api, upload_id=upload_id).json()
    _makeover(api, upload_id=upload_id)
    refused = _makeover(api, upload_id=upload_id)
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert int(refused["Retry-After"]) > 0
    GenerationJob.objects.filter(pk=first["id"]).update(status="failed", error_code="internal")
    assert api.get("/api/quota/").json()["remaining"] == 1
    assert _makeover(api, upload_id=upload_id).status_code == 201


def test_deleting_a_makeover_does_not_give_its_quota_back(api, settings):
    settings.DAILY_GENERATION_LIMIT = 2
    upload_id = _upload(api).json()["id"]
    for _round in range(2):
        made = _makeover(api, upload_id=upload_id).json()
        GenerationJob.objects.filter(pk=made["id"]).update(status="succeeded")
        assert api.delete(f"/api/makeovers/{made['id']}/").status_code == 204
        upload_id = _upload(api).json()["id"]
    quota = api.get("/api/quota/").json()
    assert (quota["used"], quota["remaining"]) == (2, 0)
    assert _makeover(api, upload_id=upload_id).status_code == 429


def test_cancelling_or_deleting_a_started_makeover_does_not_give_its_quota_back(api, settings):
    from django.utils import timezone

    settings.DAILY_GENERATION_LIMIT = 3
    upload_id = _upload(api).json()["id"]
    queued = _makeover(api, upload_id=upload_id).json()
    assert api.post(f"/api/makeovers/{queued['id']}/cancel/").status_code == 200
    assert api.get("/api/quota/").json()["used"] == 0, "cancelled before it started: free"
    for action in ("cancel", "delete"):
        made = _makeover(api, upload_id=upload_id).json()
        GenerationJob.objects.filter(pk=made["id"]).update(status="running", started_at=timezone.now())
        if action == "cancel":
            assert api.post(f"/api/makeovers/{made['id']}/cancel/").status_code == 200
        else:
            assert api.delete(f"/api/makeovers/{made['id']}/").status_code == 204
    assert api.get("/api/quota/").json()["used"] == 2


def test_a_makeover_whose_spec_cannot_be_read_still_lists(api):
    upload_id = _upload(api).json()["id"]
    made = _makeover(api, upload_id=upload_id).json()
    job = GenerationJob.objects.get(pk=made["id"])
    job.spec["params"]["preferences"]["mood"] = "from a future version"
    job.save(update_fields=["spec"])
    history = api.get("/api/makeovers/")
    assert history.status_code == 200
    assert history.json()["results"][0]["preferences"] is None


def test_an_api_address_without_its_slash_still_redirects(api):
    response = api.get("/api/quota")
    assert (response.status_code, response["Location"]) == (301, "/api/quota/")
    assert api.get("/api/no-such-thing").status_code == 404


def test_over_quota_a_malformed_request_is_400_and_a_photo_is_not_stored(api, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    upload_id = _upload(api).json()["id"]
    assert _makeover(api, upload_id=upload_id).status_code == 201
    assert _makeover(api, upload_id=upload_id, preferences={"tone": "purple"}).status_code == 400
    refused = api.post("/api/makeovers/", {"photo": io.BytesIO(make_desk_photo())})
    assert (refused.status_code, refused.json()["code"]) == (429, "quota_exceeded")
    assert Upload.objects.count() == 1, "the refused photo was not stored"


def test_queue_position_and_eta_while_queued(api, user):
    from datetime import timedelta

    from django.utils import timezone

    upload_id = _upload(api).json()["id"]
    jobs = [_makeover(api, upload_id=upload_id).json() for _ in range(3)]
    assert [j["state"]["queue_position"] for j in jobs] == [0, 1, 2]
    assert [j["state"]["eta_seconds"] for j in jobs] == [None, None, None], "no history yet: no guess"
    # Three earlier makeovers took 40, 60 and 90 s: the median is 60 s, one worker serves the queue.
    now = timezone.now()
    for seconds in (40, 60, 90):
        old = GenerationJob.objects.create(
            owner=user, kind="desk_makeover", status="succeeded", spec={}, upload_id=upload_id
        )
        GenerationJob.objects.filter(pk=old.pk).update(
            started_at=now - timedelta(seconds=seconds + 5), finished_at=now - timedelta(seconds=5)
        )
    states = [api.get(f"/api/makeovers/{j['id']}/").json()["state"] for j in jobs]
    assert [(s["stage"], s["queue_position"], s["eta_seconds"]) for s in states] == [
        ("queued", 0, 60),
        ("queued", 1, 120),
        ("queued", 2, 180),
    ]


def test_the_result_says_its_style_date_and_preferences(api, style):
    upload_id = _upload(api).json()["id"]
    made = _makeover(
        api, upload_id=upload_id, style="cozy", preferences={"tone": "warm", "include_categories": ["plants"]}
    ).json()
    korean = api.get(f"/api/makeovers/{made['id']}/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert (korean["style"], korean["style_name"]) == ("cozy", "코지")
    assert made["style_name"] == "Cozy"
    assert korean["preferences"] == {
        "tone": "warm",
        "budget_min": None,
        "budget_max": None,
        "include_categories": ["plants"],
        "avoid_categories": [],
    }
    assert korean["created_at"] == made["created_at"]


def test_variation_restyle_cancel_delete_and_history(api, style):
    upload_id = _upload(api).json()["id"]
    job_id = _makeover(api, upload_id=upload_id, preferences={"tone": "cool"}).json()["id"]
    variation = api.post(f"/api/makeovers/{job_id}/variation/").json()
    assert variation["upload_id"] == upload_id
    again = GenerationJob.objects.get(pk=variation["id"])
    assert again.spec["params"]["preferences"] == {
        "tone": "cool",
        "budget_min": None,
        "budget_max": None,
        "include_categories": [],
        "avoid_categories": [],
    }
    assert again.id != uuid.UUID(job_id)
    restyled = api.post(f"/api/makeovers/{job_id}/restyle/", {"style": "cozy"}, content_type="application/json")
    assert restyled.status_code == 201
    assert restyled.json()["style"] == "cozy"
    bad_style = api.post(f"/api/makeovers/{job_id}/restyle/", {"style": "nope"}, content_type="application/json")
    assert bad_style.status_code == 400

    cancelled = api.post(f"/api/makeovers/{job_id}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"]["status"] == "cancelled"
    assert api.post(f"/api/makeovers/{job_id}/cancel/").status_code == 409

    history = api.get("/api/makeovers/?page_size=2").json()
    assert history["count"] == 3
    assert len(history["results"]) == 2
    assert history["results"][0]["id"] == restyled.json()["id"], "newest first"

    photo_key = Upload.objects.get(pk=upload_id).image.name
    for job in (job_id, variation["id"]):
        assert api.delete(f"/api/makeovers/{job}/").status_code == 204
    assert default_storage.exists(photo_key), "the restyled makeover still uses the photo"
    assert api.delete(f"/api/makeovers/{restyled.json()['id']}/").status_code == 204
    assert not default_storage.exists(photo_key), "the last makeover took the photo with it"
    assert not Upload.objects.exists()


def test_styles_list_and_quota(api, style):
    styles = api.get("/api/styles/").json()
    assert [s["slug"] for s in styles] == ["cozy"]
    assert styles[0]["preview_url"] is None
    quota = api.get("/api/quota/").json()
    assert quota["remaining"] == quota["limit"] - quota["used"]


def test_openapi_schema_is_generated_and_valid(openapi_schema_yaml):
    schema = openapi_schema_yaml
    for path in ("/api/uploads/", "/api/makeovers/{job_id}/restyle/", "/api/makeovers/{job_id}/cancel/", "/api/quota/"):
        assert path in schema
