"""Every diary endpoint of the mobile API: strict input in two languages, quota, privacy, and a
schema that describes exactly what the endpoints return."""

from __future__ import annotations

import datetime
import io
import uuid

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from PIL import Image

from diary.models import DiaryEntry, DiaryPicture
from generation import selectors as job_selectors
from generation.models import GenerationJob
from ontop.accounts.services import api_token_issue
from tests.test_diary_web import diary_styles, finish_picture, month_ago, picture_jobs, write_entry

pytestmark = pytest.mark.django_db(transaction=True)

ENTRIES = "/api/diary/entries/"


@pytest.fixture
def styles(db):
    return diary_styles()


@pytest.fixture
def api(client, user, redis_clean, styles):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    return client


@pytest.fixture
def stranger(other_user):
    other = Client()
    other.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=other_user)}"
    return other


def _create(api, language="en", **payload):
    payload.setdefault("text", "오늘은 친구와 떡볶이를 먹었다.")
    return api.post(ENTRIES, payload, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def _entry_url(entry_id, action="") -> str:
    return f"{ENTRIES}{entry_id}/{action + '/' if action else ''}"


def _path(url: str) -> str:
    return url.replace("http://testserver", "")


# ---- create and read -----------------------------------------------------------------------------


def test_everything_needs_a_token(client, db):
    entry_id = uuid.uuid4()
    for url in (
        ENTRIES,
        _entry_url(entry_id),
        f"/api/diary/pictures/{entry_id}/images/result/",
        "/api/diary/export/?month=2026-11",
        "/api/diary/quota/",
        "/api/diary/moods/",
    ):
        response = client.get(url)
        assert (response.status_code, response.json()["code"]) == (401, "not_authenticated"), url


def test_create_then_read_it(api, styles):
    created = _create(api, date="2026-11-02", mood="calm", style="crayon", orientation="portrait")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["date"], body["mood"], body["mood_label"], body["mood_emoji"]) == ("2026-11-02", "calm", "Calm", "😌")
    assert (body["style"], body["orientation"], body["text"]) == (
        "crayon",
        "portrait",
        "오늘은 친구와 떡볶이를 먹었다.",
    )
    assert (body["picture"], body["picture_outdated"]) == (None, False)
    latest = body["latest"]
    assert (latest["state"]["status"], latest["state"]["stage_label"]) == ("queued", "Waiting in line")
    assert (latest["style"], latest["orientation"], latest["thumb_url"], latest["result_url"]) == (
        "crayon",
        "portrait",
        None,
        None,
    )
    job = GenerationJob.objects.get()
    assert latest["id"] == str(job.id)
    assert latest["seed"] == job_selectors.job_params(job=job).seed
    assert api.get(_entry_url(body["id"])).json() == body


def test_create_with_only_text_uses_today_the_first_style_and_landscape(api):
    body = _create(api).json()
    assert (body["date"], body["style"], body["orientation"], body["mood"]) == (
        timezone.localdate().isoformat(),
        "watercolor",
        "landscape",
        "",
    )


def test_labels_come_in_the_requests_language(api):
    body = _create(api, language="ko", mood="tired").json()
    assert body["mood_label"] == "피곤해요"
    assert body["latest"]["state"]["stage_label"] == "대기 중"


def test_moods_are_listed_with_translated_labels(api):
    moods = api.get("/api/diary/moods/", HTTP_ACCEPT_LANGUAGE="ko").json()
    assert [m["code"] for m in moods] == ["", "happy", "calm", "excited", "grateful", "tired", "sad", "angry"]
    assert moods[1] == {"code": "happy", "label": "행복해요", "emoji": "😊"}


def test_a_finished_picture_has_image_urls_that_serve_it(api, user):
    entry = write_entry(user, month_ago())
    finish_picture(picture_jobs(entry)[0], size=(80, 60))
    picture = api.get(_entry_url(entry.id)).json()["picture"]
    assert picture["state"]["status"] == "succeeded"
    result = api.get(_path(picture["result_url"]))
    assert result.status_code == 200
    assert Image.open(io.BytesIO(b"".join(result.streaming_content))).size == (80, 60)
    thumb = api.get(_path(picture["thumb_url"]))
    assert Image.open(io.BytesIO(b"".join(thumb.streaming_content))).format == "JPEG"


def test_a_downloaded_picture_is_named_after_its_day(api, user):
    entry = write_entry(user, datetime.date(2026, 10, 9))
    job = picture_jobs(entry)[0]
    finish_picture(job)
    response = api.get(f"/api/diary/pictures/{job.id}/images/result/?download=1", HTTP_ACCEPT="image/png")
    assert response["Content-Disposition"] == 'attachment; filename="diary-2026-10-09.png"'


def test_only_the_picture_roles_are_served(api, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    assert api.get(f"/api/diary/pictures/{job.id}/images/result/").status_code == 404, "not painted yet"
    finish_picture(job)
    assert api.get(f"/api/diary/pictures/{job.id}/images/input/").status_code == 404


# ---- strict input, in English and Korean ---------------------------------------------------------


BAD_PAYLOADS = [
    (
        {"text": "가" * 2001},
        "text",
        "text: A diary entry has at most 2000 characters.",
        "text: 일기는 2000자까지 쓸 수 있어요.",
    ),
    ({"text": ""}, "text", "text: Write a few words about your day.", "text: 오늘 하루를 몇 마디 적어 주세요."),
    ({"text": 12}, "text", "text: Write a few words about your day.", "text: 오늘 하루를 몇 마디 적어 주세요."),
    (
        {"date": "2026-02-30"},
        "date",
        "date: Enter a real date, like 2026-11-03.",
        "date: 2026-11-03처럼 올바른 날짜를 입력해 주세요.",
    ),
    (
        {"date": "2999-01-01"},
        "date",
        "date: That day hasn't come yet. Pick today or an earlier day.",
        "date: 아직 오지 않은 날이에요. 오늘이나 지난 날을 골라 주세요.",
    ),
    ({"mood": "ecstatic"}, "mood", "mood: Pick one of the moods.", "mood: 기분 중 하나를 골라 주세요."),
    (
        {"style": "cozy-wood"},
        "style",
        "style: Pick one of the art styles.",
        "style: 그림 스타일 중 하나를 골라 주세요.",
    ),
    (
        {"orientation": "square"},
        "orientation",
        "orientation: Pick landscape or portrait.",
        "orientation: 가로나 세로 중 하나를 골라 주세요.",
    ),
    (
        {"weather": "sunny"},
        "non_field_errors",
        "Unknown field(s): weather.",
        "알 수 없는 항목이 있어요: weather.",
    ),
]


@pytest.mark.parametrize(("payload", "field", "english", "korean"), BAD_PAYLOADS)
@pytest.mark.parametrize("language", ["en", "ko"])
def test_bad_input_is_400_with_a_translated_message(api, payload, field, english, korean, language):
    response = _create(api, language=language, **payload)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], body["message"]) == ("invalid", english if language == "en" else korean)
    assert list(body["fields"]) == [field]
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (0, 0)


def test_a_submission_id_must_be_a_uuid_string(api):
    response = _create(api, submission_id=12345)
    assert (response.status_code, list(response.json()["fields"])) == (400, ["submission_id"])


def test_a_list_body_is_400(api):
    response = api.post(ENTRIES, [{"text": "hi"}], content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_broken_json_is_400(api):
    response = api.post(ENTRIES, "{not json", content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")


def test_line_breaks_count_as_one_character(api):
    response = _create(api, text="a\r\n" * 1000)  # 2,000 characters once the line breaks are one each
    assert response.status_code == 201
    assert response.json()["text"] == ("a\n" * 1000).strip()


# ---- one page a day, idempotent submissions, quota ----------------------------------------------


def test_a_second_entry_for_the_same_day_is_409_with_the_first_ones_id(api):
    first = _create(api, date="2026-11-01").json()
    again = _create(api, date="2026-11-01", text="another", language="ko")
    assert again.status_code == 409
    assert again.json() == {
        "code": "entry_exists",
        "message": "이 날짜에는 이미 일기를 썼어요. 그 일기를 수정해 주세요.",
        "entry_id": first["id"],
    }
    assert GenerationJob.objects.count() == 1


def test_the_same_submission_twice_is_one_entry(api):
    submission = str(uuid.uuid4())
    first = _create(api, submission_id=submission)
    second = _create(api, submission_id=submission)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (1, 1)


def test_a_malformed_request_is_400_even_without_quota(api, settings):
    settings.DAILY_GENERATION_LIMIT = 0
    assert _create(api, mood="ecstatic").status_code == 400
    assert _create(api, weather="rain").status_code == 400


def test_the_quota_is_429_after_n_pictures(api, settings):
    settings.DAILY_GENERATION_LIMIT = 2
    assert _create(api, date="2026-11-01").status_code == 201
    assert _create(api, date="2026-11-02").status_code == 201
    refused = _create(api, date="2026-11-03", language="ko")
    assert refused.status_code == 429
    body = refused.json()
    assert (body["code"], body["limit"]) == ("quota_exceeded", 2)
    assert body["message"] == "오늘 그릴 수 있는 그림일기 2장을 모두 썼어요. 내일 다시 와 주세요."
    assert 0 < int(refused["Retry-After"]) <= 24 * 3600
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (2, 2), "nothing half-written"


def test_the_quota_endpoint_counts_diary_pictures_only(api, user, settings):
    settings.DAILY_GENERATION_LIMIT = 3
    _create(api, date="2026-11-01")
    GenerationJob.objects.create(owner=user, kind="desk_makeover", status="succeeded")
    quota = api.get("/api/diary/quota/").json()
    assert (quota["limit"], quota["used"], quota["remaining"]) == (3, 1, 2)


def test_cancelled_pictures_give_the_quota_back(api, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    entry = _create(api, date="2026-11-01").json()
    assert api.post(_entry_url(entry["id"], "cancel")).status_code == 200
    assert _create(api, date="2026-11-02").status_code == 201


# ---- list: month and timeline ------------------------------------------------------------------------


def test_the_month_lists_that_months_entries_only(api, user, settings):
    settings.DAILY_GENERATION_LIMIT = 10
    for day in (datetime.date(2026, 10, 31), datetime.date(2026, 11, 1), datetime.date(2026, 11, 15)):
        write_entry(user, day)
    page = api.get(ENTRIES + "?month=2026-11").json()
    assert page["count"] == 2
    assert [e["date"] for e in page["results"]] == ["2026-11-15", "2026-11-01"]


def test_a_whole_month_is_one_page(api, user, settings):
    settings.DAILY_GENERATION_LIMIT = 40
    for day in range(1, 32):
        write_entry(user, datetime.date(2026, 10, day))
    page = api.get(ENTRIES + "?month=2026-10").json()
    assert (page["count"], len(page["results"]), page["next"]) == (31, 31, None)


def test_the_timeline_is_newest_first_and_paginated(api, user, settings):
    settings.DAILY_GENERATION_LIMIT = 10
    days = [datetime.date(2026, 9, d) for d in (3, 9, 21, 28, 30)]
    for day in days:
        write_entry(user, day)
    first = api.get(ENTRIES + "?page_size=2").json()
    assert first["count"] == 5
    assert [e["date"] for e in first["results"]] == ["2026-09-30", "2026-09-28"]
    last = api.get(ENTRIES + "?page_size=2&page=3").json()
    assert ([e["date"] for e in last["results"]], last["next"]) == (["2026-09-03"], None)


@pytest.mark.parametrize("month", ["2026-13", "November", "2026-1", "1899-12"])
def test_a_bad_month_is_400(api, month):
    response = api.get(ENTRIES + f"?month={month}", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 400
    assert response.json()["message"] == "month: 2026-11처럼 어느 달인지 알려 주세요."


# ---- update, repaint, cancel, delete ---------------------------------------------------------------


def _patch(api, entry_id, language="en", **payload):
    return api.patch(_entry_url(entry_id), payload, content_type="application/json", HTTP_ACCEPT_LANGUAGE=language)


def test_updating_the_text_keeps_the_picture(api, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    finish_picture(job)
    body = _patch(api, entry.id, text="비가 와서 집에서 책을 읽었다.", mood="calm").json()
    assert (body["text"], body["mood"], body["picture"]["id"]) == ("비가 와서 집에서 책을 읽었다.", "calm", str(job.id))
    assert body["picture_outdated"] is True
    assert GenerationJob.objects.count() == 1


def test_updating_the_date(api, user):
    entry = write_entry(user, month_ago())
    assert _patch(api, entry.id, date="2026-10-05").json()["date"] == "2026-10-05"


def test_moving_onto_a_written_day_is_409(api, user):
    write_entry(user, datetime.date(2026, 10, 5))
    other = write_entry(user, datetime.date(2026, 10, 6))
    response = _patch(api, other.id, date="2026-10-05")
    assert response.status_code == 409
    other.refresh_from_db()
    assert other.entry_date == datetime.date(2026, 10, 6)


def test_an_update_is_strict_too(api, user):
    entry = write_entry(user, month_ago())
    response = _patch(api, entry.id, language="ko", style="crayon")
    assert response.status_code == 400
    assert response.json()["message"] == "알 수 없는 항목이 있어요: style."


def test_repaint_makes_a_new_picture_with_a_new_seed(api, user):
    entry = write_entry(user, month_ago())
    finish_picture(picture_jobs(entry)[0])
    response = api.post(_entry_url(entry.id, "repaint"), {}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    first, second = picture_jobs(entry)
    assert (body["latest"]["id"], body["picture"]["id"]) == (str(second.id), str(first.id))
    assert job_selectors.job_params(job=first).seed != job_selectors.job_params(job=second).seed
    assert body["latest"]["style"] == "watercolor"


def test_repaint_in_another_style_and_shape(api, user, styles):
    entry = write_entry(user, month_ago(), style=styles[0])
    payload = {"style": "oil-painting", "orientation": "portrait"}
    body = api.post(_entry_url(entry.id, "repaint"), payload, content_type="application/json").json()
    assert (body["style"], body["orientation"]) == ("oil-painting", "portrait")
    assert (body["latest"]["style"], body["latest"]["orientation"]) == ("oil-painting", "portrait")


def test_repaint_with_an_unknown_style_is_400(api, user):
    entry = write_entry(user, month_ago())
    response = api.post(_entry_url(entry.id, "repaint"), {"style": "nope"}, content_type="application/json")
    assert (response.status_code, response.json()["message"]) == (400, "style: Pick one of the art styles.")
    assert len(picture_jobs(entry)) == 1


def test_repaint_past_the_quota_is_429_and_changes_nothing(api, user, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    entry = write_entry(user, month_ago(), style=styles[0])
    response = api.post(_entry_url(entry.id, "repaint"), {"style": "webtoon"}, content_type="application/json")
    assert response.status_code == 429
    entry.refresh_from_db()
    assert (entry.style, len(picture_jobs(entry))) == (styles[0], 1)


def test_cancel_stops_the_painting_then_has_nothing_to_stop(api, user):
    entry = write_entry(user, month_ago())
    cancelled = api.post(_entry_url(entry.id, "cancel"))
    assert cancelled.status_code == 200
    assert cancelled.json()["latest"]["state"]["status"] == "cancelled"
    again = api.post(_entry_url(entry.id, "cancel"))
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_cancel")


def test_delete_removes_the_entry_its_pictures_and_files(api, user):
    entry = write_entry(user, month_ago())
    key = finish_picture(picture_jobs(entry)[0])
    api.post(_entry_url(entry.id, "repaint"), {}, content_type="application/json")
    assert api.delete(_entry_url(entry.id)).status_code == 204
    assert (DiaryEntry.objects.count(), DiaryPicture.objects.count(), GenerationJob.objects.count()) == (0, 0, 0)
    assert not default_storage.exists(key)
    assert api.get(_entry_url(entry.id)).status_code == 404


# ---- privacy -------------------------------------------------------------------------------------------


def test_other_peoples_entries_and_pictures_are_404(api, stranger, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    finish_picture(job)
    requests = [
        ("get", _entry_url(entry.id), None),
        ("patch", _entry_url(entry.id), {"text": "mine now"}),
        ("delete", _entry_url(entry.id), None),
        ("post", _entry_url(entry.id, "repaint"), {}),
        ("post", _entry_url(entry.id, "cancel"), None),
        ("get", f"/api/diary/pictures/{job.id}/images/result/", None),
        ("get", f"/api/diary/pictures/{job.id}/images/thumb/", None),
        ("get", f"/api/jobs/{job.id}/images/result/", None),
    ]
    for method, url, payload in requests:
        kwargs = {"data": payload, "content_type": "application/json"} if payload is not None else {}
        response = getattr(stranger, method)(url, **kwargs)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), (method, url)
    assert stranger.get(ENTRIES).json()["count"] == 0
    month = month_ago().strftime("%Y-%m")
    assert stranger.get(f"/api/diary/export/?month={month}").status_code == 404
    assert (DiaryEntry.objects.get().text, GenerationJob.objects.count()) == ("오늘은 한강에서 자전거를 탔다.", 1)


# ---- month export ------------------------------------------------------------------------------------


def test_the_month_export_is_a_pdf(api, user):
    entry = write_entry(user, datetime.date(2026, 10, 9))
    finish_picture(picture_jobs(entry)[0])
    response = api.get("/api/diary/export/?month=2026-10", HTTP_ACCEPT="application/pdf")
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == 'attachment; filename="diary-2026-10.pdf"'


def test_the_month_export_needs_a_month_and_entries(api):
    missing = api.get("/api/diary/export/", HTTP_ACCEPT="application/pdf")
    assert (missing.status_code, missing["Content-Type"]) == (400, "application/json")
    empty = api.get("/api/diary/export/?month=2026-10")
    assert (empty.status_code, empty.json()["message"]) == (404, "You wrote nothing in your diary that month.")


# ---- the schema tells the truth ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema, node):
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node


def _assert_shape(schema, node, value, where: str):
    """The value has exactly the documented keys, recursively (nullable allowed where documented)."""
    nullable = node.get("nullable", False)
    node = _resolve(schema, node)
    if value is None:
        assert nullable or node.get("nullable"), f"{where} is null but not documented as nullable"
        return
    if node.get("type") == "object" and "properties" in node:
        assert isinstance(value, dict), where
        assert set(value) == set(node["properties"]), (
            f"{where}: returned {sorted(value)}, documented {sorted(node['properties'])}"
        )
        for key in node.get("required", []):
            assert key in value, f"{where}.{key} is required"
        for key, child in node["properties"].items():
            _assert_shape(schema, child, value[key], f"{where}.{key}")
    elif node.get("type") == "array":
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            _assert_shape(schema, node["items"], item, f"{where}[{index}]")


def _documented(schema, path: str, method: str, status: int):
    operation = schema["paths"][path][method]
    assert str(status) in operation["responses"], f"{method.upper()} {path} does not document {status}"
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]


def test_every_diary_response_matches_its_schema(api, user, schema, settings):
    settings.DAILY_GENERATION_LIMIT = 3
    done = write_entry(user, datetime.date(2026, 10, 9))
    finish_picture(picture_jobs(done)[0])
    entry = "/api/diary/entries/{entry_id}/"
    checks = [
        (_create(api, date="2026-11-01", mood="sad"), "/api/diary/entries/", "post"),
        (_create(api, date="2026-11-01"), "/api/diary/entries/", "post"),  # 409
        (_create(api, mood="nope"), "/api/diary/entries/", "post"),  # 400
        (api.get(ENTRIES), "/api/diary/entries/", "get"),
        (api.get(ENTRIES + "?month=2026-10"), "/api/diary/entries/", "get"),
        (api.get(ENTRIES + "?month=bad"), "/api/diary/entries/", "get"),
        (api.get(_entry_url(done.id)), entry, "get"),
        (api.get(_entry_url(uuid.uuid4())), entry, "get"),  # 404
        (_patch(api, done.id, mood="happy"), entry, "patch"),
        (api.post(_entry_url(done.id, "repaint"), {}, content_type="application/json"), entry + "repaint/", "post"),
        (api.post(_entry_url(done.id, "repaint"), {}, content_type="application/json"), entry + "repaint/", "post"),
        (api.post(_entry_url(done.id, "cancel")), entry + "cancel/", "post"),
        (api.post(_entry_url(done.id, "cancel")), entry + "cancel/", "post"),  # 409
        (api.get("/api/diary/quota/"), "/api/diary/quota/", "get"),
        (api.get("/api/diary/moods/"), "/api/diary/moods/", "get"),
        (api.get("/api/diary/export/?month=2026-01"), "/api/diary/export/", "get"),  # 404
        (api.get("/api/diary/export/"), "/api/diary/export/", "get"),  # 400
    ]
    statuses = []
    for response, path, method in checks:
        statuses.append(response.status_code)
        _assert_shape(schema, _documented(schema, path, method, response.status_code), response.json(), path)
    assert statuses == [201, 409, 400, 200, 200, 400, 200, 404, 200, 201, 429, 200, 409, 200, 200, 404, 400]


def test_the_binary_endpoints_document_their_content_types(schema):
    image = schema["paths"]["/api/diary/pictures/{picture_id}/images/{role}/"]["get"]["responses"]["200"]
    export = schema["paths"]["/api/diary/export/"]["get"]["responses"]["200"]
    assert list(image["content"]) == ["image/*"]
    assert list(export["content"]) == ["application/pdf"]


def test_the_schema_is_valid_without_warnings(openapi_schema_yaml):
    assert "/api/diary/entries/{entry_id}/repaint/" in openapi_schema_yaml
