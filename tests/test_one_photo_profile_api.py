"""The one-photo studio profile's mobile API: multipart create with every refusal (400/413/415/429) in
two languages and nothing stored, list, detail, favourite, "another one", the picture (owner only,
no-store), deletion of every file, other people's ids as 404, and a schema that tells the truth."""

from __future__ import annotations

import datetime
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from generation.models import GenerationJob, Upload
from ontop.accounts.services import api_token_issue
from studio import one_photo
from studio.models import OnePhotoProfile
from tests.test_diary_api import _assert_shape, _documented
from tests.test_one_photo_profile import fail_profile, finish_profile, gif_file, make_profile
from tests.test_studio_web import owner_files, photo_file, stored_files

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = "/api/studio/one-photo-profiles/"


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


def _create(api, language="en", **fields):
    data = {"tone": "auto", "background": "light_grey", "consent": "true"}
    data.update(fields)
    if "photo" not in data:
        data["photo"] = photo_file(1)
    data = {key: value for key, value in data.items() if value is not None}
    return api.post(PROFILES, data, HTTP_ACCEPT_LANGUAGE=language)


def _url(profile_id, action="") -> str:
    return f"{PROFILES}{profile_id}/{action + '/' if action else ''}"


def _nothing_stored(user) -> None:
    assert (OnePhotoProfile.objects.count(), GenerationJob.objects.count(), Upload.objects.count()) == (0, 0, 0)
    assert owner_files(user) == []


def test_everything_needs_a_token(client, db):
    some_id = uuid.uuid4()
    for method, url in (
        ("get", PROFILES),
        ("post", PROFILES),
        ("get", f"{PROFILES}quota/"),
        ("get", _url(some_id)),
        ("patch", _url(some_id)),
        ("delete", _url(some_id)),
        ("post", _url(some_id, "again")),
        ("get", _url(some_id, "image")),
    ):
        response = getattr(client, method)(url)
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated"), url


def test_create_then_read_it(api, user):
    response = _create(api, tone="warm", background="sky_blue", submission_id=str(uuid.uuid4()))
    assert response.status_code == 201, response.content
    body = response.json()
    profile = OnePhotoProfile.objects.get()
    assert response["Location"] == f"http://testserver{_url(profile.pk)}"
    assert body["id"] == str(profile.pk)
    assert (body["tone_requested"], body["tone_requested_label"], body["background"], body["background_label"]) == (
        "warm",
        "Warm",
        "sky_blue",
        "Sky blue",
    )
    assert (body["favourite"], body["image_url"], body["result"], body["photo_shared_with"]) == (False, None, None, 0)
    assert body["state"]["status"] == "queued"
    assert body["status_url"] == f"http://testserver{_url(profile.pk)}"
    assert body["ai_notice"] == "AI-generated: not for passports or identity documents."
    assert profile.job.spec["inputs"] == {"photo": Upload.objects.get().image.name}
    assert api.get(_url(profile.pk)).json() == body


def test_the_same_submission_twice_is_one_profile(api, user):
    submission = str(uuid.uuid4())
    first = _create(api, submission_id=submission)
    second = _create(api, submission_id=submission, photo=photo_file(2))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert (OnePhotoProfile.objects.count(), Upload.objects.count()) == (1, 1)
    assert len(stored_files(f"uploads/{user.pk}")) == 1


@pytest.mark.parametrize(
    ("fields", "field", "english", "korean"),
    [
        (
            {"consent": None},
            "consent",
            "Please confirm that this is a photo of you, or that you have the right to use it.",
            "본인의 사진이거나 사용할 권리가 있는 사진인지 확인해 주세요.",
        ),
        (
            {"consent": "false"},
            "consent",
            "Please confirm that this is a photo of you, or that you have the right to use it.",
            "본인의 사진이거나 사용할 권리가 있는 사진인지 확인해 주세요.",
        ),
        ({"photo": None}, "photo", "Choose a photo of yourself.", "본인 사진을 한 장 골라 주세요."),
        ({"tone": "sepia"}, "tone", "Pick auto, warm or cool.", "자동, 따뜻한 톤, 차가운 톤 중에서 골라 주세요."),
        ({"background": "jungle"}, "background", "Pick one of the backgrounds.", "배경을 하나 골라 주세요."),
    ],
)
@pytest.mark.parametrize("language", ["en", "ko"])
def test_bad_input_is_400_in_the_requests_language(api, user, fields, field, english, korean, language):
    response = _create(api, language, **fields)
    message = english if language == "en" else korean
    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "message": f"{field}: {message}", "fields": {field: [message]}}
    _nothing_stored(user)


def test_an_unknown_field_is_400(api, user):
    response = _create(api, colour="red")
    assert (response.status_code, response.json()["fields"]) == (
        400,
        {"non_field_errors": ["Unknown field(s): colour."]},
    )
    _nothing_stored(user)


@pytest.mark.parametrize(
    ("make", "status", "code", "english", "korean"),
    [
        (
            lambda: SimpleUploadedFile("notes.jpg", b"this is not a photo", content_type="image/jpeg"),
            400,
            "not_an_image",
            "This file is not a photo we can read.",
            "읽을 수 있는 사진 파일이 아니에요.",
        ),
        (
            lambda: SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg"),
            400,
            "empty",
            "This file is empty.",
            "빈 파일이에요.",
        ),
        (
            lambda: SimpleUploadedFile("huge.jpg", b"\xff\xd8" + b"0" * (1024 * 1024 + 10), content_type="image/jpeg"),
            413,
            "too_large",
            "This file is larger than 1 MB.",
            "파일이 1MB보다 커요.",
        ),
        (
            gif_file,
            415,
            "unsupported_format",
            "Please upload a JPEG, PNG, WebP or HEIC photo.",
            "JPEG, PNG, WebP, HEIC 사진을 올려 주세요.",
        ),
    ],
)
@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_photo_we_cannot_use_is_refused_with_its_code(
    api, user, settings, make, status, code, english, korean, language
):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    response = _create(api, language, photo=make())
    assert response.status_code == status
    expected = {"code": code, "message": english if language == "en" else korean}
    assert response.json() == ({**expected, "fields": {}} if status == 400 else expected)
    _nothing_stored(user)


def test_json_is_a_415(api, user):
    response = api.post(PROFILES, {"consent": True}, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    _nothing_stored(user)


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "You have used today's 1 studio profiles. Come back tomorrow for more."),
        ("ko", "오늘 만들 수 있는 스튜디오 프로필 1장을 모두 만들었어요. 내일 다시 만들어 주세요."),
    ],
)
def test_past_the_days_limit_is_429_and_nothing_is_stored(api, user, settings, language, message):
    settings.STUDIO_DAILY_ONE_PHOTO_PROFILES = 1
    assert _create(api).status_code == 201
    response = _create(api, language, photo=photo_file(2))
    assert response.status_code == 429
    body = response.json()
    assert (body["code"], body["message"], body["limit"]) == ("quota_exceeded", message, 1)
    assert 0 < int(response["Retry-After"]) <= 86400
    assert (OnePhotoProfile.objects.count(), Upload.objects.count()) == (1, 1)
    first = OnePhotoProfile.objects.get()
    again = api.post(_url(first.pk, "again"), {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)
    assert (again.status_code, again.json()["message"]) == (429, message)
    quota = api.get(f"{PROFILES}quota/").json()
    assert (quota["limit"], quota["used"], quota["remaining"]) == (1, 1, 0)


def test_list_is_mine_newest_first_and_paginated(api, user, other_user):
    made = [make_profile(user, seed) for seed in range(3)]
    make_profile(other_user, 9)
    body = api.get(PROFILES + "?page_size=2").json()
    assert body["count"] == 3
    assert [item["id"] for item in body["results"]] == [str(made[2].pk), str(made[1].pk)]
    assert body["next"] == "http://testserver/api/studio/one-photo-profiles/?page=2&page_size=2"
    second = api.get(PROFILES + "?page=2&page_size=2").json()
    assert [item["id"] for item in second["results"]] == [str(made[0].pk)]


def test_a_finished_profile_has_its_picture_and_tone(api, user):
    profile = make_profile(user, tone="auto", background="charcoal")
    key = finish_profile(profile, tone="cool", confidence=0.6)
    body = api.get(_url(profile.pk)).json()
    assert body["state"]["status"] == "succeeded"
    assert body["image_url"] == f"http://testserver{_url(profile.pk, 'image')}"
    params = profile.job.spec["params"]
    assert body["result"] == {
        "tone": "cool",
        "tone_label": "Cool",
        "tone_requested": "auto",
        "tone_confidence": 0.6,
        "tone_summary": "Tone: cool (auto, 60% sure)",
        "seed": params["seed"],
        "width": 256,
        "height": 320,
    }
    image = api.get(_url(profile.pk, "image"))
    assert (image.status_code, image["Cache-Control"], image["Content-Type"]) == (200, "private, no-store", "image/png")
    assert Image.open(io.BytesIO(b"".join(image.streaming_content))).size == (256, 320)
    download = api.get(_url(profile.pk, "image") + "?download=1", HTTP_ACCEPT="image/*")
    assert download["Content-Disposition"].startswith('attachment; filename="ontop-profile-')
    assert key.endswith("result.png")


def test_the_picture_is_404_until_it_succeeded(api, user):
    profile = make_profile(user)
    assert api.get(_url(profile.pk, "image")).status_code == 404
    fail_profile(profile, "no_face")
    body = api.get(_url(profile.pk)).json()
    assert (body["state"]["status"], body["state"]["error_code"], body["state"]["error_message"]) == (
        "failed",
        "no_face",
        "We could not see a face in this photo. Please use a photo that shows your face.",
    )
    assert body["image_url"] is None
    assert api.get(_url(profile.pk, "image")).status_code == 404


def test_favourite_and_another_one(api, user):
    profile = make_profile(user, tone="warm", background="beige")
    finish_profile(profile, tone="warm")
    response = api.patch(_url(profile.pk), {"favourite": True}, content_type="application/json")
    assert (response.status_code, response.json()["favourite"]) == (200, True)
    bad = api.patch(_url(profile.pk), {"favourite": "maybe"}, content_type="application/json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    submission = str(uuid.uuid4())
    again = api.post(_url(profile.pk, "again"), {"submission_id": submission}, content_type="application/json")
    assert again.status_code == 202, again.content
    body = again.json()
    assert body["id"] != str(profile.pk)
    assert (body["tone_requested"], body["background"], body["favourite"], body["photo_shared_with"]) == (
        "warm",
        "beige",
        False,
        1,
    )
    assert again["Location"] == f"http://testserver{_url(body['id'])}"
    repeat = api.post(_url(profile.pk, "again"), {"submission_id": submission}, content_type="application/json")
    assert repeat.json()["id"] == body["id"]
    assert (OnePhotoProfile.objects.count(), Upload.objects.count()) == (2, 1)


def test_delete_removes_every_file(api, user):
    profile = make_profile(user)
    finish_profile(profile)
    assert api.delete(_url(profile.pk)).status_code == 204
    assert owner_files(user) == []
    assert (OnePhotoProfile.objects.count(), GenerationJob.objects.count(), Upload.objects.count()) == (0, 0, 0)
    assert api.get(_url(profile.pk)).status_code == 404


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "We couldn't find that. It may have been deleted."), ("ko", "찾을 수 없어요. 삭제되었을 수 있어요.")],
)
def test_other_peoples_profiles_are_404_in_the_requests_language(api, stranger, user, language, message):
    profile = make_profile(user)
    finish_profile(profile)
    for method, url, kwargs in (
        ("get", _url(profile.pk), {}),
        ("patch", _url(profile.pk), {"data": {"favourite": True}, "content_type": "application/json"}),
        ("delete", _url(profile.pk), {}),
        ("post", _url(profile.pk, "again"), {"data": {}, "content_type": "application/json"}),
        ("get", _url(profile.pk, "image"), {}),
    ):
        response = getattr(stranger, method)(url, HTTP_ACCEPT_LANGUAGE=language, **kwargs)
        assert (response.status_code, response.json()) == (404, {"code": "not_found", "message": message}), url
    assert stranger.get(PROFILES).json()["count"] == 0
    profile.refresh_from_db()
    assert (profile.favourite, OnePhotoProfile.objects.count()) == (False, 1)
    assert owner_files(user) != []


def test_reading_a_profile_is_a_use(api, user):
    profile = make_profile(user)
    OnePhotoProfile.objects.filter(pk=profile.pk).update(last_used_at=timezone.now() - datetime.timedelta(days=40))
    body = api.get(_url(profile.pk)).json()
    profile.refresh_from_db()
    assert (timezone.now() - profile.last_used_at).total_seconds() < 30
    assert body["expires_at"] == timezone.localtime(one_photo.expires_at(profile)).isoformat()


# ---- the schema tells the truth -----------------------------------------------------------------


def test_every_response_matches_its_schema(api, user, schema, settings):
    settings.STUDIO_DAILY_ONE_PHOTO_PROFILES = 3
    done = make_profile(user, 5)
    finish_profile(done)
    collection = "/api/studio/one-photo-profiles/"
    detail = collection + "{profile_id}/"
    settings.UPLOAD_MAX_BYTES = 1024
    too_large = _create(api)
    settings.UPLOAD_MAX_BYTES = 15 * 1024 * 1024
    checks = [
        (too_large, collection, "post", 413),
        (_create(api), collection, "post", 201),
        (_create(api, consent="false"), collection, "post", 400),
        (_create(api, photo=SimpleUploadedFile("a.jpg", b"nope")), collection, "post", 400),
        (_create(api, photo=gif_file()), collection, "post", 415),
        (api.post(PROFILES, {}, content_type="application/json"), collection, "post", 415),
        (api.get(PROFILES), collection, "get", 200),
        (api.get(_url(done.pk)), detail, "get", 200),
        (api.get(_url(uuid.uuid4())), detail, "get", 404),
        (api.patch(_url(done.pk), {"favourite": True}, content_type="application/json"), detail, "patch", 200),
        (api.patch(_url(done.pk), {"favourite": None}, content_type="application/json"), detail, "patch", 400),
        (api.post(_url(done.pk, "again"), {}, content_type="application/json"), detail + "again/", "post", 202),
        (api.post(_url(done.pk, "again"), {}, content_type="application/json"), detail + "again/", "post", 429),
        (api.get(_url(uuid.uuid4(), "image")), detail + "image/", "get", 404),
        (api.get(f"{PROFILES}quota/"), collection + "quota/", "get", 200),
    ]
    for response, path, method, expected in checks:
        assert response.status_code == expected, (path, method, response.content)
        _assert_shape(schema, _documented(schema, path, method, response.status_code), response.json(), path)
    deleted = api.delete(_url(done.pk))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert "204" in schema["paths"][detail]["delete"]["responses"]


def test_the_schema_documents_every_status_and_the_binary_picture(schema):
    paths = schema["paths"]
    create = paths["/api/studio/one-photo-profiles/"]["post"]
    assert sorted(create["responses"]) == ["201", "400", "401", "413", "415", "429"]
    assert list(create["requestBody"]["content"]) == ["multipart/form-data"]
    fields = schema["components"]["schemas"]["OnePhotoCreateInputRequest"]
    assert sorted(fields["properties"]) == ["background", "consent", "photo", "submission_id", "tone"]
    assert sorted(fields["required"]) == ["consent", "photo"]
    image = paths["/api/studio/one-photo-profiles/{profile_id}/image/"]["get"]["responses"]
    assert list(image["200"]["content"]) == ["image/*"]
    assert sorted(paths["/api/studio/one-photo-profiles/{profile_id}/"]) == ["delete", "get", "patch"]
    assert sorted(paths["/api/studio/one-photo-profiles/{profile_id}/again/"]["post"]["responses"]) == [
        "202",
        "400",
        "401",
        "404",
        "409",
        "415",
        "429",
    ]
