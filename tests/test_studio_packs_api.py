"""Profile packs in the mobile API: concepts and poses, making a pack (and every documented refusal),
the pack with its pictures' states, favourites, deleting, cancelling, the zip, and a schema that says
exactly what each endpoint returns."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from django.test import Client

from ontop.accounts.services import api_token_issue
from studio.models import Pack, Portrait
from tests.test_diary_api import _assert_shape, _documented
from tests.test_studio_packs import WARM, finish_portrait, load_demo_concepts, make_pack, portraits, ready_subject
from tests.test_studio_web import accepted_subject

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def demo_concepts(db):
    load_demo_concepts()


@pytest.fixture
def api(client, user, redis_clean):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    return client


@pytest.fixture
def stranger(other_user):
    other = Client()
    other.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=other_user)}"
    return other


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _post(api, url, payload=None, language="en"):
    return api.post(url, payload or {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def _packs_url(subject) -> str:
    return f"/api/studio/subjects/{subject.id}/packs/"


def test_concepts_for_a_kind_and_poses_in_the_readers_language(api):
    dogs = api.get("/api/studio/concepts/?kind=dog", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert [(c["slug"], c["name"], c["poses"]) for c in dogs] == [("pet-birthday", "반려동물 생일 파티", [])]
    people = api.get("/api/studio/concepts/?kind=person").json()
    assert [c["slug"] for c in people] == ["studio-headshot", "business-profile", "fairy-tale", "film-photo"]
    assert people[0]["poses"] == ["front", "three-quarter", "arms-crossed"]
    assert (people[0]["tones"], people[0]["pack_size"], people[0]["preview_url"]) == (["auto", "warm", "cool"], 4, None)
    assert len(api.get("/api/studio/concepts/").json()) == 5
    bad = api.get("/api/studio/concepts/?kind=fish")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    poses = api.get("/api/studio/poses/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert [(p["slug"], p["name"]) for p in poses][:2] == [("front", "정면"), ("three-quarter", "살짝 돌아선 자세")]
    assert len(poses[0]["keypoints"]) == 18
    assert poses[0]["keypoint_names"][:2] == ["nose", "neck"]


def test_a_pack_is_made_and_read_with_its_pictures_and_tone(api, user):
    subject = ready_subject(user, readings=WARM)
    response = _post(api, _packs_url(subject), {"concept": "studio-headshot", "pose": "front", "size": 2})
    assert response.status_code == 201
    body = response.json()
    pack = Pack.objects.get()
    assert response["Location"] == f"http://testserver/api/studio/packs/{pack.id}/"
    assert body["tone"] == {
        "requested": "auto",
        "used": "warm",
        "confidence": 0.585,
        "label": "Auto: warm (58 % sure)",
    }
    assert (body["concept"], body["pose"], body["size"], body["ai_generated"]) == ("studio-headshot", "front", 2, True)
    assert body["notice"] == "AI-generated pictures: not for passports or identity documents."
    assert [(p["index"], p["state"]["status"], p["image_url"]) for p in body["pictures"]] == [
        (1, "queued", None),
        (2, "queued", None),
    ]
    first = portraits(pack)[0]
    finish_portrait(first)
    again = api.get(f"/api/studio/packs/{pack.id}/").json()
    assert again["pictures"][0]["image_url"] == f"http://testserver/api/studio/portraits/{first.job_id}/image/"
    assert again["pictures"][0]["file_name"] == "studio-headshot-1.png"
    assert (again["progress"]["done"], again["progress"]["total"]) == (1, 2)
    listed = api.get("/api/studio/packs/").json()
    assert (listed["count"], listed["results"][0]["id"]) == (1, str(pack.id))


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"concept": "pet-birthday"}, "concept", "Pick one of the concepts offered for this model."),
        ({"concept": "nope"}, "concept", "Pick one of the concepts offered for this model."),
        ({"concept": "fairy-tale", "pose": "arms-crossed"}, "pose", "Pick one of the poses offered for this concept."),
        ({"concept": "fairy-tale", "pose": "nope"}, "pose", "Pick one of the poses offered for this concept."),
        ({"concept": "fairy-tale", "tone": "purple"}, "tone", "Pick one of the tones offered for this concept."),
        ({"concept": "fairy-tale", "size": 13}, "size", "A pack has 1 to 12 pictures."),
        ({"concept": "fairy-tale", "size": "many"}, "size", "A pack has 1 to 12 pictures."),
        (
            {"concept": "fairy-tale", "instruction": "at the beach"},
            "instruction",
            "Your own words are for pets' pictures: a person's follows the pose.",
        ),
        ({"concept": "fairy-tale", "colour": "red"}, "non_field_errors", "Unknown field(s): colour."),
    ],
)
def test_a_bad_pack_is_a_400_with_the_field_and_nothing_is_made(api, user, payload, field, message):
    subject = ready_subject(user)
    response = _post(api, _packs_url(subject), payload)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "message": message if field == "non_field_errors" else f"{field}: {message}",
        "fields": {field: [message]},
    }
    assert not Pack.objects.exists()


def test_refusals_are_in_korean(api, user):
    subject = ready_subject(user, kind="dog")
    response = _post(api, _packs_url(subject), {"concept": "pet-birthday", "pose": "front"}, language="ko")
    assert response.json()["fields"] == {
        "pose": ["자세는 사람 사진에만 있어요. 반려동물 사진은 적어 주신 말을 따라요."]
    }


@pytest.mark.parametrize(
    ("language", "message", "size_message"),
    [
        (
            "en",
            "The request body could not be read: check that it is valid JSON or a valid form.",
            "A pack has 1 to 12 pictures.",
        ),
        (
            "ko",
            "요청 본문을 읽을 수 없어요. 올바른 JSON이나 폼 형식인지 확인해 주세요.",
            "팩에는 사진을 1장에서 12장까지 담을 수 있어요.",
        ),
    ],
)
def test_a_broken_body_or_a_wordy_size_is_a_400_in_the_readers_language(api, user, language, message, size_message):
    subject = ready_subject(user)
    broken = api.post(
        _packs_url(subject), '{"concept": ', content_type="application/json", HTTP_ACCEPT_LANGUAGE=language
    )
    assert (broken.status_code, broken.json()) == (400, {"code": "parse_error", "message": message, "fields": {}})
    for size in ("four", 2.5, 0, 13):
        response = _post(api, _packs_url(subject), {"concept": "studio-headshot", "size": size}, language=language)
        assert (response.status_code, response.json()["fields"]) == (400, {"size": [size_message]}), size
    assert not Pack.objects.exists()


def test_no_model_is_409_and_a_pack_past_todays_portraits_is_429(api, user, settings):
    waiting = accepted_subject(user, kind="person")
    response = _post(api, _packs_url(waiting), {"concept": "film-photo"})
    assert (response.status_code, response.json()) == (
        409,
        {"code": "no_model", "message": "This has no finished personal model yet. Train one first, then make a pack."},
    )
    settings.STUDIO_DAILY_PORTRAITS = 5
    subject = ready_subject(user, name="Mina")
    assert _post(api, _packs_url(subject), {"concept": "film-photo", "size": 2}).status_code == 201
    response = _post(api, _packs_url(subject), {"concept": "film-photo", "size": 4})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert (body["code"], body["limit"]) == ("quota_exceeded", 5)
    assert body["message"] == (
        "A pack of 4 pictures does not fit: you have 3 portraits left today. "
        "Make a smaller pack, or come back tomorrow."
    )
    assert Pack.objects.count() == 1


def test_favourite_delete_cancel_more_and_zip(api, user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=3)
    first, second, third = portraits(pack)
    finish_portrait(first)
    finish_portrait(second)
    url = f"/api/studio/portraits/{first.job_id}/"
    response = api.patch(url, {"favourite": True}, content_type="application/json")
    assert (response.status_code, response.json()["favourite"]) == (200, True)
    bad = api.patch(url, {"favourite": "maybe"}, content_type="application/json")
    assert (bad.status_code, bad.json()["fields"]) == (400, {"favourite": ["Say true or false."]})
    image = api.get(f"{url}image/?download=1")
    assert (image.status_code, image["Cache-Control"]) == (200, "private, no-store")
    archive = api.get(f"/api/studio/packs/{pack.id}/zip/")
    assert archive["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert names == ["studio-headshot-1.png", "studio-headshot-2.png"]
    cancelled = _post(api, f"/api/studio/packs/{pack.id}/cancel/")
    assert [p["state"]["status"] for p in cancelled.json()["pictures"]] == ["succeeded", "succeeded", "cancelled"]
    progress = cancelled.json()["progress"]
    assert (progress["done"], progress["failed"], progress["cancelled"], progress["finished"]) == (2, 1, 1, True)
    assert _post(api, f"/api/studio/packs/{pack.id}/cancel/").json()["code"] == "nothing_to_cancel"
    more = _post(api, f"/api/studio/packs/{pack.id}/more/", {"submission_id": str(uuid.uuid4())})
    assert (more.status_code, more.json()["more_like_id"], more.json()["size"]) == (201, str(pack.id), 3)
    assert api.delete(url).status_code == 204
    assert api.delete(f"/api/studio/packs/{pack.id}/").status_code == 204
    assert not Pack.objects.filter(pk=pack.pk).exists()
    assert third.job_id not in Portrait.objects.values_list("job_id", flat=True)


def test_other_peoples_packs_are_404(api, stranger, user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=1)
    portrait = portraits(pack)[0]
    finish_portrait(portrait)
    for method, url in (
        ("get", f"/api/studio/packs/{pack.id}/"),
        ("delete", f"/api/studio/packs/{pack.id}/"),
        ("post", f"/api/studio/packs/{pack.id}/more/"),
        ("post", f"/api/studio/packs/{pack.id}/cancel/"),
        ("get", f"/api/studio/packs/{pack.id}/zip/"),
        ("patch", f"/api/studio/portraits/{portrait.job_id}/"),
        ("delete", f"/api/studio/portraits/{portrait.job_id}/"),
        ("get", f"/api/studio/portraits/{portrait.job_id}/image/"),
        ("post", f"/api/studio/subjects/{subject.id}/packs/"),
    ):
        response = getattr(stranger, method)(url, {}, content_type="application/json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), (method, url)
    assert stranger.get("/api/studio/packs/").json()["count"] == 0
    assert Pack.objects.count() == 1
    assert Portrait.objects.get().favourite is False


def test_every_pack_response_matches_its_schema(api, user, schema, settings):
    settings.STUDIO_DAILY_PORTRAITS = 5  # a cancelled picture that never started gives its place back
    subject = ready_subject(user, readings=WARM)
    pet = ready_subject(user, kind="cat", name="Nabi")
    waiting = accepted_subject(user, kind="person", name="Waiting")
    packs = "/api/studio/subjects/{subject_id}/packs/"
    made = _post(api, _packs_url(subject), {"concept": "studio-headshot", "size": 2})
    pack_id = made.json()["id"]
    finish_portrait(portraits(Pack.objects.get(pk=pack_id))[0])
    portrait_id = made.json()["pictures"][0]["id"]
    pack = "/api/studio/packs/{pack_id}/"
    portrait = "/api/studio/portraits/{portrait_id}/"
    checks = [
        (made, packs, "post"),
        (_post(api, _packs_url(pet), {"concept": "pet-birthday", "instruction": "낮잠", "size": 1}), packs, "post"),
        (_post(api, _packs_url(subject), {"concept": "pet-birthday"}), packs, "post"),  # 400
        (_post(api, _packs_url(waiting), {"concept": "film-photo"}), packs, "post"),  # 409
        (_post(api, _packs_url(subject), {"concept": "film-photo", "size": 4}), packs, "post"),  # 429
        (_post(api, f"/api/studio/subjects/{uuid.uuid4()}/packs/", {"concept": "x"}), packs, "post"),  # 404
        (api.get("/api/studio/concepts/?kind=person"), "/api/studio/concepts/", "get"),
        (api.get("/api/studio/concepts/?kind=fish"), "/api/studio/concepts/", "get"),  # 400
        (api.get("/api/studio/poses/"), "/api/studio/poses/", "get"),
        (api.get("/api/studio/packs/"), "/api/studio/packs/", "get"),
        (api.get("/api/studio/packs/?page=9"), "/api/studio/packs/", "get"),  # 404
        (api.get(f"/api/studio/packs/{pack_id}/"), pack, "get"),
        (api.get(f"/api/studio/packs/{uuid.uuid4()}/"), pack, "get"),  # 404
        (api.get(f"/api/studio/packs/{uuid.uuid4()}/zip/"), pack + "zip/", "get"),  # 404
        (api.patch(f"/api/studio/portraits/{portrait_id}/", {"favourite": True}, content_type="application/json"),
         portrait, "patch"),
        (api.patch(f"/api/studio/portraits/{portrait_id}/", {}, content_type="application/json"), portrait, "patch"),
        (_post(api, f"/api/studio/packs/{pack_id}/cancel/"), pack + "cancel/", "post"),
        (_post(api, f"/api/studio/packs/{pack_id}/cancel/"), pack + "cancel/", "post"),  # 409
        (_post(api, f"/api/studio/packs/{pack_id}/more/", {"submission_id": 5}), pack + "more/", "post"),  # 400
        (_post(api, f"/api/studio/packs/{pack_id}/more/"), pack + "more/", "post"),
        (_post(api, f"/api/studio/packs/{pack_id}/more/"), pack + "more/", "post"),  # 429
        (api.get("/api/studio/portrait-quota/"), "/api/studio/portrait-quota/", "get"),
    ]  # fmt: skip
    statuses = []
    for response, path, method in checks:
        statuses.append(response.status_code)
        _assert_shape(schema, _documented(schema, path, method, response.status_code), response.json(), path)
    assert statuses == [201, 201, 400, 409, 429, 404, 200, 400, 200, 200, 404, 200, 404, 404, 200, 400, 200, 409, 400,
                        201, 429, 200]  # fmt: skip


def test_the_binary_pack_endpoints_document_their_content_types(schema):
    paths = schema["paths"]
    assert list(paths["/api/studio/packs/{pack_id}/zip/"]["get"]["responses"]["200"]["content"]) == ["application/zip"]
    image = paths["/api/studio/portraits/{portrait_id}/image/"]["get"]["responses"]["200"]
    assert list(image["content"]) == ["image/png"]
    create = paths["/api/studio/subjects/{subject_id}/packs/"]["post"]["responses"]
    assert sorted(create) == ["201", "400", "401", "404", "409", "415", "429"]
