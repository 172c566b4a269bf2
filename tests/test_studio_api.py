"""The profile studio's mobile API: strict input in two languages, consent, limits, training,
models, privacy, and a schema that describes exactly what the endpoints return."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from generation.models import GenerationJob
from ontop.accounts.services import api_token_issue
from studio import services as studio_services
from studio.models import PersonalModel, PhotoCheck, Subject, SubjectPhoto, Training
from tests.test_diary_api import _assert_shape, _documented
from tests.test_studio_web import (
    accepted_subject,
    add_photos,
    finish_check,
    finish_training,
    make_subject,
    owner_files,
    photo_file,
    stored_files,
)

pytestmark = pytest.mark.django_db(transaction=True)

SUBJECTS = "/api/studio/subjects/"


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


def _create(api, language="en", **payload):
    payload.setdefault("kind", "dog")
    payload.setdefault("name", "Bori")
    return api.post(SUBJECTS, payload, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def _subject_url(subject_id, action="") -> str:
    return f"{SUBJECTS}{subject_id}/{action + '/' if action else ''}"


def _upload(api, subject_id, files, language="en"):
    return api.post(_subject_url(subject_id, "photos"), {"photos": files}, HTTP_ACCEPT_LANGUAGE=language)


def _path(url: str) -> str:
    return url.replace("http://testserver", "")


# ---- auth and subjects ---------------------------------------------------------------------------


def test_everything_needs_a_token(client, db):
    some_id = uuid.uuid4()
    for method, url in (
        ("get", SUBJECTS),
        ("post", SUBJECTS),
        ("get", _subject_url(some_id)),
        ("post", _subject_url(some_id, "photos")),
        ("post", _subject_url(some_id, "train")),
        ("delete", f"/api/studio/photos/{some_id}/"),
        ("get", f"/api/studio/photos/{some_id}/image/"),
        ("get", f"/api/studio/trainings/{some_id}/"),
        ("get", "/api/studio/models/"),
        ("get", f"/api/studio/models/{some_id}/previews/0/"),
        ("get", "/api/studio/quota/"),
    ):
        response = getattr(client, method)(url)
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated"), url


def test_create_a_pet_then_read_it(api, user):
    created = _create(api, kind="dog", name="Bori", keep_photos=True)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["kind_label"], body["name"], body["keep_photos"], body["consent_at"]) == (
        "dog",
        "My dog",
        "Bori",
        True,
        None,
    )
    assert (body["status"], body["status_label"], body["photos_accepted"], body["photo_room"]) == (
        "collecting",
        "Collecting photos",
        0,
        20,
    )
    assert (body["min_photos"], body["max_photos"], body["can_train"], body["expires_after_days"]) == (5, 20, False, 90)
    assert (body["trainings"], body["models"]) == ([], [])
    assert api.get(_subject_url(body["id"])).json() == body
    listed = api.get(SUBJECTS).json()
    assert (listed["count"], [s["id"] for s in listed["results"]]) == (1, [body["id"]])


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Please confirm that these are photos of you, or that you have the right to use them."),
        ("ko", "본인의 사진이거나 사용할 권리가 있는 사진인지 확인해 주세요."),
    ],
)
def test_a_person_without_consent_is_400_in_the_requests_language(api, language, message):
    response = _create(api, language=language, kind="person", name="Mina")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["message"], body["fields"]) == ("invalid", f"consent: {message}", {"consent": [message]})
    assert not Subject.objects.exists()


def test_a_person_with_consent_is_created_with_its_time(api):
    body = _create(api, kind="person", name="Mina", consent=True).json()
    assert body["kind_label"] == "Me (a person)"
    assert body["consent_at"] is not None
    assert Subject.objects.get().consent_at is not None


@pytest.mark.parametrize(
    ("payload", "field", "english", "korean"),
    [
        ({"kind": "horse"}, "kind", "Pick who the photos are of.", "누구의 사진인지 골라 주세요."),
        ({"name": ""}, "name", "Give it a name.", "이름을 지어 주세요."),
        ({"name": "x" * 61}, "name", "A name has at most 60 characters.", "이름은 60자까지 쓸 수 있어요."),
        ({"keep_photos": "maybe"}, "keep_photos", "Say true or false.", "true 또는 false로 보내 주세요."),
        ({"colour": "brown"}, "non_field_errors", "Unknown field(s): colour.", "알 수 없는 항목이 있어요: colour."),
    ],
)
@pytest.mark.parametrize("language", ["en", "ko"])
def test_bad_input_is_400_with_a_translated_message(api, payload, field, english, korean, language):
    response = _create(api, language=language, **payload)
    assert response.status_code == 400
    assert response.json()["fields"][field] == [english if language == "en" else korean]


def test_too_many_subjects_is_409(api, user, settings):
    settings.STUDIO_MAX_SUBJECTS = 1
    make_subject(user)
    response = _create(api, name="Kong")
    assert (response.status_code, response.json()["code"]) == (409, "too_many_subjects")
    bad = _create(api, kind="horse")
    assert bad.status_code == 400, "input is checked before the limit"


def test_patch_renames_and_keeps_photos(api, user):
    subject = make_subject(user)
    body = api.patch(
        _subject_url(subject.id), {"name": "Bori the brave", "keep_photos": True}, content_type="application/json"
    ).json()
    assert (body["name"], body["keep_photos"]) == ("Bori the brave", True)
    bad = api.patch(_subject_url(subject.id), {"kind": "cat"}, content_type="application/json")
    assert (bad.status_code, bad.json()["message"]) == (400, "Unknown field(s): kind.")


# ---- photos --------------------------------------------------------------------------------------


def test_upload_several_photos_then_list_them(api, user):
    subject = make_subject(user)
    response = _upload(api, subject.id, [photo_file(1), photo_file(2, fmt="PNG")])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rejected"] == []
    assert [(p["status"], p["status_label"], p["reason"]) for p in body["photos"]] == [
        ("checking", "Checking…", ""),
        ("checking", "Checking…", ""),
    ]
    assert GenerationJob.objects.get().kind == "subject_photo_check"
    listed = api.get(_subject_url(subject.id, "photos")).json()
    assert [p["id"] for p in listed] == [p["id"] for p in body["photos"]]
    image = api.get(_path(listed[0]["image_url"]), HTTP_ACCEPT="image/jpeg")
    assert (image.status_code, image["Content-Type"]) == (200, "image/jpeg")
    assert Image.open(io.BytesIO(image.content)).format == "JPEG"


def test_a_file_that_is_not_a_photo_is_reported_by_name(api, user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    subject = make_subject(user)
    bad = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    mixed = _upload(api, subject.id, [photo_file(1), bad], language="ko").json()
    assert len(mixed["photos"]) == 1
    assert mixed["rejected"] == [
        {"name": "notes.txt", "code": "not_an_image", "message": "읽을 수 있는 사진 파일이 아니에요."}
    ]
    only_bad = _upload(api, subject.id, [SimpleUploadedFile("a.txt", b"x")])
    assert (only_bad.status_code, only_bad.json()["code"]) == (400, "photos_rejected")


def test_no_photos_is_400_and_too_many_is_409(api, user):
    subject = make_subject(user)
    empty = api.post(_subject_url(subject.id, "photos"), {}, HTTP_ACCEPT_LANGUAGE="ko")
    assert (empty.status_code, empty.json()["fields"]) == (400, {"photos": ["사진을 한 장 이상 골라 주세요."]})
    add_photos(subject, range(19))
    over = _upload(api, subject.id, [photo_file(40), photo_file(41)])
    assert over.status_code == 409
    assert over.json() == {
        "code": "too_many_photos",
        "message": "A subject can have at most 20 photos: you can add 1 more.",
    }
    assert SubjectPhoto.objects.count() == 19


def test_verdicts_and_reasons(api, user):
    subject = make_subject(user, kind="cat", name="Nabi")
    finish_check(add_photos(subject, range(3)).check, rejections={0: "several_subjects", 1: "blurry"})
    photos = api.get(_subject_url(subject.id, "photos"), HTTP_ACCEPT_LANGUAGE="ko").json()
    assert [(p["status"], p["rejection"], p["reason"]) for p in photos] == [
        ("rejected", "several_subjects", "사진에 고양이가 두 마리 이상 있어요."),
        ("rejected", "blurry", "사진이 흐려요."),
        ("accepted", "", ""),
    ]


def test_delete_a_photo(api, user):
    subject = make_subject(user)
    photo = add_photos(subject, (1,)).photos[0]
    key = photo.upload.image.name
    assert api.delete(f"/api/studio/photos/{photo.id}/").status_code == 204
    assert not default_storage.exists(key)
    assert api.delete(f"/api/studio/photos/{photo.id}/").status_code == 404


# ---- training ------------------------------------------------------------------------------------


def test_train_needs_five_accepted_photos(api, user):
    subject = make_subject(user)
    finish_check(add_photos(subject, range(4)).check)
    response = api.post(
        _subject_url(subject.id, "train"), {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="ko"
    )
    assert response.status_code == 409
    assert response.json() == {
        "code": "not_enough_photos",
        "message": "나만의 모델에는 통과한 사진이 5장 이상 필요해요. 지금은 4장이에요.",
    }


def test_train_is_202_with_a_status_url(api, user, settings):
    settings.STUDIO_TRAINING_STEPS = 4
    subject = accepted_subject(user)
    response = api.post(_subject_url(subject.id, "train"), {}, content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    training = Training.objects.get()
    assert body["id"] == str(training.job_id)
    assert body["status_url"] == f"http://testserver/api/studio/trainings/{training.job_id}/"
    assert response["Location"] == body["status_url"]
    assert (body["state"]["status"], body["state"]["stage_label"], body["photos_count"]) == (
        "queued",
        "Waiting in line",
        5,
    )
    assert api.get(_path(body["status_url"])).json()["id"] == body["id"]
    again = api.post(_subject_url(subject.id, "train"), {}, content_type="application/json")
    assert (again.status_code, again.json()["code"]) == (409, "training_running")
    cancelled = api.post(_subject_url(subject.id, "cancel"))
    assert (cancelled.status_code, cancelled.json()["state"]["status"]) == (200, "cancelled")
    assert api.post(_subject_url(subject.id, "cancel")).status_code == 409


def test_order_of_checks_404_400_409_429(api, user, stranger, settings):
    settings.STUDIO_DAILY_TRAININGS = 0
    subject = make_subject(user)
    url = _subject_url(subject.id, "train")
    bad = {"submission_id": 12}
    assert stranger.post(url, bad, content_type="application/json").status_code == 404
    assert api.post(url, bad, content_type="application/json").status_code == 400
    assert api.post(url, {}, content_type="application/json").status_code == 409
    finish_check(add_photos(subject, range(5)).check)
    quota = api.post(url, {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="ko")
    assert quota.status_code == 429
    assert quota.json()["message"] == "오늘 학습 0번을 모두 썼어요. 내일 다시 와 주세요."
    assert int(quota["Retry-After"]) > 0


def test_the_same_submission_twice_is_one_training(api, user):
    subject = accepted_subject(user)
    payload = {"submission_id": str(uuid.uuid4())}
    first = api.post(_subject_url(subject.id, "train"), payload, content_type="application/json")
    second = api.post(_subject_url(subject.id, "train"), payload, content_type="application/json")
    assert first.json()["id"] == second.json()["id"]
    assert Training.objects.count() == 1


# ---- models --------------------------------------------------------------------------------------


def test_models_list_rename_previews_and_delete(api, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    finish_training(training)
    model = PersonalModel.objects.get()
    listed = api.get("/api/studio/models/").json()
    assert listed["count"] == 1
    body = listed["results"][0]
    assert (body["id"], body["name"], body["steps"], body["final_loss"], body["training_id"]) == (
        str(model.id),
        "Bori",
        4,
        0.1234,
        str(training.job_id),
    )
    assert [p["step"] for p in body["previews"]] == [2, 4]
    preview = api.get(_path(body["previews"][1]["url"]), HTTP_ACCEPT="image/png")
    assert (preview.status_code, preview["Content-Type"]) == (200, "image/png")
    subject_body = api.get(_subject_url(subject.id)).json()
    assert (subject_body["status"], subject_body["models"][0]["id"]) == ("ready", str(model.id))
    assert subject_body["trainings"][0]["model_id"] == str(model.id)
    renamed = api.patch(f"/api/studio/models/{model.id}/", {"name": "Summer"}, content_type="application/json")
    assert renamed.json()["name"] == "Summer"
    assert api.delete(f"/api/studio/models/{model.id}/").status_code == 204
    assert stored_files(f"results/{user.pk}/{training.job_id}") == []
    assert api.get(f"/api/studio/models/{model.id}/").status_code == 404


def test_delete_a_subject_deletes_its_files(api, user):
    subject = accepted_subject(user, keep_photos=True)
    finish_training(studio_services.subject_train(subject=subject))
    assert len(owner_files(user)) == 10  # 5 photos; 2 previews, 2 adapter files, a checkpoint
    assert api.delete(_subject_url(subject.id)).status_code == 204
    assert owner_files(user) == []
    assert (Subject.objects.count(), GenerationJob.objects.count()) == (0, 0)


# ---- privacy -------------------------------------------------------------------------------------


def test_other_peoples_things_are_404(api, stranger, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    photo = SubjectPhoto.objects.first()
    requests = [
        ("get", _subject_url(subject.id), None),
        ("patch", _subject_url(subject.id), {"name": "mine"}),
        ("delete", _subject_url(subject.id), None),
        ("get", _subject_url(subject.id, "photos"), None),
        ("post", _subject_url(subject.id, "recheck"), None),
        ("post", _subject_url(subject.id, "train"), {}),
        ("post", _subject_url(subject.id, "cancel"), None),
        ("delete", f"/api/studio/photos/{photo.id}/", None),
        ("get", f"/api/studio/photos/{photo.id}/image/", None),
        ("get", f"/api/studio/trainings/{training.job_id}/", None),
        ("get", f"/api/studio/trainings/{training.job_id}/progress-preview/", None),
    ]
    finish_training(training)
    model = PersonalModel.objects.get()
    requests += [
        ("get", f"/api/studio/models/{model.id}/", None),
        ("patch", f"/api/studio/models/{model.id}/", {"name": "mine"}),
        ("delete", f"/api/studio/models/{model.id}/", None),
        ("get", f"/api/studio/models/{model.id}/previews/0/", None),
    ]
    for method, url, payload in requests:
        kwargs = {"data": payload, "content_type": "application/json"} if payload is not None else {}
        response = getattr(stranger, method)(url, **kwargs)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), (method, url)
    assert stranger.get(SUBJECTS).json()["count"] == 0
    assert stranger.get("/api/studio/models/").json()["count"] == 0
    assert (Subject.objects.get().name, PersonalModel.objects.get().name) == ("Bori", "Bori")


# ---- the schema tells the truth ---------------------------------------------------------------------


def test_every_studio_response_matches_its_schema(api, user, schema, settings):
    settings.STUDIO_DAILY_TRAININGS = 1
    ready = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=ready))
    model = PersonalModel.objects.get()
    person = _create(api, kind="person", name="Mina", consent=True).json()
    subject = "/api/studio/subjects/{subject_id}/"
    checks = [
        (_create(api, name="Kong"), "/api/studio/subjects/", "post"),
        (_create(api, kind="person"), "/api/studio/subjects/", "post"),  # 400: no consent
        (api.get(SUBJECTS), "/api/studio/subjects/", "get"),
        (api.get(_subject_url(ready.id)), subject, "get"),
        (api.get(_subject_url(uuid.uuid4())), subject, "get"),  # 404
        (api.patch(_subject_url(ready.id), {"name": "B"}, content_type="application/json"), subject, "patch"),
        (_upload(api, person["id"], [photo_file(s) for s in range(5)]), subject + "photos/", "post"),
        (_upload(api, person["id"], [photo_file(s) for s in range(20, 36)]), subject + "photos/", "post"),  # 409
        (api.get(_subject_url(person["id"], "photos")), subject + "photos/", "get"),
        (api.post(_subject_url(person["id"], "recheck")), subject + "recheck/", "post"),  # 409
        (
            api.post(_subject_url(person["id"], "train"), {}, content_type="application/json"),
            subject + "train/",
            "post",
        ),
    ]
    finish_check(PhotoCheck.objects.get(subject_id=person["id"]))
    checks += [
        (
            api.post(_subject_url(person["id"], "train"), {}, content_type="application/json"),
            subject + "train/",
            "post",
        ),
        (api.get(_subject_url(person["id"])), subject, "get"),
        (api.get("/api/studio/models/"), "/api/studio/models/", "get"),
        (api.get(f"/api/studio/models/{model.id}/"), "/api/studio/models/{model_id}/", "get"),
        (
            api.patch(f"/api/studio/models/{model.id}/", {"name": ""}, content_type="application/json"),
            "/api/studio/models/{model_id}/",
            "patch",
        ),
        (api.get("/api/studio/quota/"), "/api/studio/quota/", "get"),
    ]
    statuses = []
    for response, path, method in checks:
        statuses.append(response.status_code)
        _assert_shape(schema, _documented(schema, path, method, response.status_code), response.json(), path)
    assert statuses == [201, 400, 200, 200, 404, 200, 201, 409, 200, 409, 409, 429, 200, 200, 200, 400, 200]


def test_the_binary_endpoints_document_their_content_types(schema):
    paths = schema["paths"]
    assert list(paths["/api/studio/photos/{photo_id}/image/"]["get"]["responses"]["200"]["content"]) == ["image/jpeg"]
    preview = paths["/api/studio/models/{model_id}/previews/{index}/"]["get"]["responses"]["200"]
    assert list(preview["content"]) == ["image/*"]
    upload = paths["/api/studio/subjects/{subject_id}/photos/"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]


def test_the_schema_is_valid_without_warnings(openapi_schema_yaml):
    assert "/api/studio/subjects/{subject_id}/train/" in openapi_schema_yaml
    assert "/api/studio/models/{model_id}/previews/{index}/" in openapi_schema_yaml


# ---- what the walkthrough found ------------------------------------------------------------------


def test_an_empty_or_too_large_file_is_one_rejection_and_the_rest_are_kept(api, user, settings, schema):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    subject = make_subject(user)
    files = [photo_file(seed) for seed in range(10)]
    files.insert(10, SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg"))
    files.append(SimpleUploadedFile("huge.jpg", b"\xff\xd8" + b"0" * (1024 * 1024 + 10), content_type="image/jpeg"))
    files.append(photo_file(20))
    response = _upload(api, subject.id, files)
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["photos"]) == 11
    assert body["rejected"] == [
        {"name": "empty.jpg", "code": "empty", "message": "This file is empty."},
        {"name": "huge.jpg", "code": "too_large", "message": "This file is larger than 1 MB."},
    ]
    assert SubjectPhoto.objects.count() == 11
    path = "/api/studio/subjects/{subject_id}/photos/"
    _assert_shape(schema, _documented(schema, path, "post", 201), body, path)
    only_empty = _upload(api, subject.id, [SimpleUploadedFile("nothing.png", b"")], language="ko")
    assert only_empty.status_code == 400
    assert only_empty.json() == {
        "code": "photos_rejected",
        "message": "빈 파일이에요.",
        "fields": {},
        "rejected": [{"name": "nothing.png", "code": "empty", "message": "빈 파일이에요."}],
    }


def test_the_photos_400_documents_its_one_shape(api, user, schema):
    """Every 400 has code, message and fields; photos_rejected adds the rejected files."""
    bad_request = _documented(schema, "/api/studio/subjects/{subject_id}/photos/", "post", 400)
    node = bad_request
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    assert sorted(node["properties"]) == ["code", "fields", "message", "rejected"]
    assert sorted(node["required"]) == ["code", "fields", "message"]
    subject = make_subject(user)
    none = api.post(_subject_url(subject.id, "photos"), {})
    assert sorted(none.json()) == ["code", "fields", "message"]


def test_json_sent_to_the_photos_endpoint_is_a_documented_415(api, user, schema):
    subject = make_subject(user)
    response = api.post(_subject_url(subject.id, "photos"), {"photos": []}, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    path = "/api/studio/subjects/{subject_id}/photos/"
    _assert_shape(schema, _documented(schema, path, "post", 415), response.json(), path)


def test_every_studio_operation_documents_401_with_its_body(client, db, schema):
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/studio/")
        for method, operation in item.items()
    ]
    # Subjects, photos, trainings, models (20), packs, portraits, concepts, poses (13), one-photo profiles (8).
    assert len(operations) == 41
    for path, method, _operation in operations:
        documented = _documented(schema, path, method, 401)
        url = re.sub(r"\{[a-z_]+\}", lambda m: "1" if m.group() == "{index}" else str(uuid.uuid4()), path)
        response = getattr(client, method)(url)
        assert response.status_code == 401, path
        _assert_shape(schema, documented, response.json(), path)
        assert sorted(response.json()) == ["code", "message"]


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "We couldn't find that. It may have been deleted."), ("ko", "찾을 수 없어요. 삭제되었을 수 있어요.")],
)
def test_404_is_in_the_requests_language_and_names_no_model(api, language, message):
    for url in (
        _subject_url(uuid.uuid4()),
        f"/api/studio/photos/{uuid.uuid4()}/image/",
        f"/api/studio/models/{uuid.uuid4()}/",
        f"/api/studio/trainings/{uuid.uuid4()}/",
    ):
        response = api.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert (response.status_code, response.json()) == (404, {"code": "not_found", "message": message}), url


def test_the_same_subject_submission_is_one_subject_even_at_once(api, user):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    token = api.defaults["HTTP_AUTHORIZATION"]
    payload = {"kind": "dog", "name": "Bori", "submission_id": str(uuid.uuid4())}

    def post(_):
        try:
            return Client(HTTP_AUTHORIZATION=token).post(SUBJECTS, payload, content_type="application/json")
        finally:
            connection.close()

    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(post, range(5)))
    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["id"] for r in responses}) == 1
    assert Subject.objects.count() == 1
    assert _create(api, name="Kong", submission_id=str(uuid.uuid4())).status_code == 201
    assert Subject.objects.count() == 2


def test_a_finished_training_has_its_numbers(api, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    running = api.get(f"/api/studio/trainings/{training.job_id}/").json()
    assert (running["steps"], running["final_loss"], running["seconds"], running["photos_used"]) == (
        None,
        None,
        None,
        None,
    )
    finish_training(training)
    body = api.get(f"/api/studio/trainings/{training.job_id}/").json()
    assert (body["steps"], body["final_loss"], body["seconds"], body["photos_used"]) == (4, 0.1234, 1.5, 5)
    assert api.get(_subject_url(subject.id)).json()["trainings"][0]["steps"] == 4


def test_the_models_list_and_detail_write_the_same_dates(api, user):
    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    model = PersonalModel.objects.get()
    listed = api.get("/api/studio/models/").json()["results"][0]
    detail = api.get(f"/api/studio/models/{model.id}/").json()
    assert listed == detail
    assert (listed["created_at"], listed["last_used_at"]) == (detail["created_at"], detail["last_used_at"])
    subjects = api.get(SUBJECTS).json()["results"][0]
    assert subjects == api.get(_subject_url(subject.id)).json()


def test_face_px_is_null_for_pets(api, user):
    dog = make_subject(user)
    finish_check(add_photos(dog, (1,)).check)
    person = make_subject(user, kind="person", name="Mina")
    finish_check(add_photos(person, (2,)).check)
    assert [p["face_px"] for p in api.get(_subject_url(dog.id, "photos")).json()] == [None]
    assert [p["face_px"] for p in api.get(_subject_url(person.id, "photos")).json()] == [0]


def test_training_while_photos_are_checked_says_so(api, user):
    subject = make_subject(user)
    add_photos(subject, range(6))
    response = api.post(_subject_url(subject.id, "train"), {}, content_type="application/json")
    assert response.json() == {
        "code": "not_enough_photos",
        "message": "6 photos are still being checked. Train once their check is done "
        "(a personal model needs at least 5 accepted photos).",
    }
