"""The makeover pages' dead ends (issue 12), server side: another photo after "not a desk", start a
cancelled makeover again, when the quota comes back, form errors that keep the photo, what the result
was asked for, queue and ETA words, preview-sized pictures, style placeholders, and Korean throughout."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template import Context, Template
from django.urls import reverse
from django.utils import formats, timezone, translation
from PIL import Image

from generation import services as job_services
from generation.images import ImageRejected, normalise_photo
from generation.models import GenerationJob, Showcase, Style, Upload
from generation.selectors import JobState
from generation.templatetags.job_ui import job_eta_text, style_colours, style_swatch
from makeovers.services import makeover_styles_load_demo
from shop.models import Recommendation
from shop.services import catalog_load_demo
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(logged_in_client, redis_clean):
    catalog_load_demo()
    makeover_styles_load_demo()
    return logged_in_client


def _post_new(client, photo: bytes | None = None, headers: dict | None = None, **fields):
    data = {"photo": io.BytesIO(photo or make_desk_photo()), **fields}
    return client.post(reverse("makeovers:new"), data, **(headers or {}))


def _job() -> GenerationJob:
    return GenerationJob.objects.order_by("-created_at").first()


def _page(client, job, **headers) -> str:
    return client.get(reverse("makeovers:detail", args=[job.id]), **headers).content.decode()


# --- After "not a desk": another photo, with the tip; a cancelled makeover starts again -----------------


@pytest.mark.parametrize("code", ["not_a_desk", "no_free_space"])
def test_a_photo_problem_offers_another_photo_and_a_tip_not_a_retry(web, code):
    _post_new(web)
    job = _job()
    job_services.job_fail(job_id=job.id, code=code, message="")
    page = _page(web, job)
    assert f'<a class="button" id="another-photo" href="{reverse("makeovers:new")}">Use another photo</a>' in page
    assert 'id="photo-tip"' in page
    assert 'id="retry"' not in page


def test_a_passing_failure_still_offers_to_try_again(web):
    _post_new(web)
    job = _job()
    job_services.job_fail(job_id=job.id, code="timeout", message="")
    page = _page(web, job)
    assert 'id="retry"' in page
    assert 'id="another-photo"' not in page


def test_a_cancelled_makeover_starts_again_from_the_same_photo_style_and_preferences(web):
    style = Style.objects.get(slug="gamer-neon")
    _post_new(web, style=style.pk, tone="cool", budget_max="50000", include_categories=["lighting"])
    job = _job()
    web.post(reverse("generation:job_cancel", args=[job.id]))
    page = _page(web, job)
    assert re.search(r'<button type="submit" class="button" id="start-again" >Start again</button>', page), page
    response = web.post(reverse("makeovers:again", args=[job.id]))
    again = _job()
    assert again.pk != job.pk
    assert response["Location"] == reverse("makeovers:detail", args=[again.id])
    assert (again.upload_id, again.style_id, again.status) == (job.upload_id, style.pk, "queued")
    assert again.spec["params"]["preferences"] == job.spec["params"]["preferences"]
    assert again.spec["params"]["preferences"]["tone"] == "cool"


def test_start_again_respects_the_quota(web, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    _post_new(web)
    cancelled = _job()
    web.post(reverse("generation:job_cancel", args=[cancelled.id]))
    _post_new(web)  # the one makeover of the day
    page = _page(web, cancelled)
    assert 'id="start-again" disabled>' in page
    assert 'id="quota-notice"' in page
    response = web.post(reverse("makeovers:again", args=[cancelled.id]), follow=True)
    assert GenerationJob.objects.count() == 2
    assert "You have used today&#x27;s 1 makeovers." in response.content.decode()


# --- At zero quota: why the buttons are off, and when they come back -------------------------------------


def test_at_zero_quota_the_page_says_why_and_when_it_comes_back(web, user, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    _post_new(web)
    quota = job_services.quota_of(owner=user, kind="desk_makeover")
    page = web.get(reverse("makeovers:new")).content.decode()
    assert '<button type="submit" class="button big" id="make" disabled>' in page
    notice = re.search(r'<p class="notice quota-notice" id="quota-notice" role="status">(.*?)</p>', page, re.S)
    assert notice, page
    seoul = timezone.localtime(quota.resets_at, timezone.get_fixed_timezone(9 * 60))
    assert notice.group(1) == (
        "You have used all 1 of today's makeovers, so the buttons that start a new one are turned off. "
        f'You get new ones at <time datetime="{quota.resets_at.isoformat()}" data-local-time>'
        f"{formats.date_format(seoul, 'DATETIME_FORMAT')} (Korea time)</time>."
    )
    korean = web.get(reverse("makeovers:new"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    notice = re.search(r'id="quota-notice" role="status">(.*?)</p>', korean, re.S).group(1)
    assert f"{seoul.year}년 {seoul.month}월 {seoul.day}일" in notice
    assert "(한국 시간)" in notice
    assert not re.search(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", "", notice)), notice


def test_the_result_page_disables_its_buttons_at_zero_quota_and_says_why(web, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    _post_new(web)
    job = _job()
    job_services.job_fail(job_id=job.id, code="timeout", message="")
    page = _page(web, job)
    assert 'id="quota-notice"' not in page, "a failed makeover does not count"
    _post_new(web)
    page = _page(web, job)
    assert 'id="retry" disabled>' in page
    assert 'id="quota-notice"' in page


# --- A form error keeps the photo and the settings; each checkbox has its own label ------------------------


def test_a_form_error_keeps_the_photo_and_every_setting(web, user):
    style = Style.objects.get(slug="minimal-white")
    response = _post_new(
        web, style=style.pk, tone="warm", budget_max="100000001", include_categories=["plants", "lighting"]
    )
    assert response.status_code == 400
    page = response.content.decode()
    upload = Upload.objects.get(owner=user)
    assert f'<input type="hidden" name="upload" value="{upload.pk}" id="kept-upload">' in page
    assert f'src="{reverse("makeovers:upload_image", args=[upload.pk])}"' in page
    assert "Your photo is kept." in page
    assert f'value="{style.pk}" checked' in page
    assert '<option value="warm" selected>' in page
    for slug in ("plants", "lighting"):
        assert re.search(rf'<input type="checkbox" name="include_categories" value="{slug}"[^>]* checked>', page)
    thumb = web.get(reverse("makeovers:upload_image", args=[upload.pk]))
    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(b"".join(thumb.streaming_content))).size == (320, 240)

    fixed = web.post(
        reverse("makeovers:new"),
        {"upload": str(upload.pk), "style": style.pk, "tone": "warm", "budget_max": "50000"},
    )
    job = _job()
    assert fixed["Location"] == reverse("makeovers:detail", args=[job.id])
    assert (job.upload_id, job.style_id) == (upload.pk, style.pk)
    assert Upload.objects.count() == 1


def test_someone_elses_upload_cannot_be_kept(web, other_user):
    theirs = Upload.objects.create(owner=other_user, width=320, height=240)
    theirs.image.save("x.jpg", ContentFile(normalise_photo(make_desk_photo(), max_bytes=10**7).data))
    response = web.post(reverse("makeovers:new"), {"upload": str(theirs.pk)})
    assert response.status_code == 400
    assert "Please choose a photo of your desk." in response.content.decode()
    assert not GenerationJob.objects.exists()
    assert web.get(reverse("makeovers:upload_image", args=[theirs.pk])).status_code == 404


def test_a_rejected_photo_is_said_in_korean_and_the_settings_stay(web):
    response = web.post(
        reverse("makeovers:new"),
        {"photo": io.BytesIO(b"not a picture at all"), "tone": "cool"},
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert response.status_code == 400
    page = response.content.decode()
    with translation.override("ko"):
        assert ImageRejected("not_an_image").message in page
        assert ImageRejected("not_an_image").message != "This file is not a photo we can read."
    assert '<option value="cool" selected>' in page


def test_a_too_large_photo_is_said_in_korean(web, settings):
    settings.UPLOAD_MAX_BYTES = 2 * 1024 * 1024
    big = Image.effect_noise((1500, 1500), 100).convert("RGB")
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    assert buffer.tell() > settings.UPLOAD_MAX_BYTES
    response = _post_new(web, photo=buffer.getvalue(), headers={"HTTP_ACCEPT_LANGUAGE": "ko"})
    assert response.status_code == 413
    assert "사진이 2MB보다 커요." in response.content.decode()


def test_each_preference_checkbox_sits_inside_its_own_label(web):
    page = web.get(reverse("makeovers:new")).content.decode()
    boxes = re.findall(r'<input type="checkbox"[^>]*>', page)
    assert len(boxes) == 2 * len(re.findall(r'name="include_categories"', page))
    for box in boxes:
        box_id = re.search(r'id="([^"]+)"', box).group(1)
        assert re.search(rf'<label class="check" for="{box_id}">{re.escape(box)}<span>[^<]+</span></label>', page)


# --- The result page says what was asked for -------------------------------------------------------------


def test_the_page_shows_the_style_date_and_preferences_in_the_page_language(web):
    style = Style.objects.get(slug="cozy-wood")
    _post_new(
        web,
        style=style.pk,
        tone="warm",
        budget_min="10000",
        budget_max="80000",
        include_categories=["plants"],
        avoid_categories=["lighting"],
    )
    job = _job()
    page = _page(web, job)
    summary = re.search(r'<dl class="summary" id="summary">(.*?)</dl>', page, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", summary)).strip()
    made = timezone.localtime(job.created_at)
    assert text.startswith("Style Cozy wood Made ")
    assert f"{made.year}" in text
    assert "(Korea time)" in text
    assert text.endswith("Colour tone Warm Budget 10,000원 to 80,000원 More of Plants Less of Lighting")
    korean = _page(web, job, HTTP_ACCEPT_LANGUAGE="ko")
    summary = re.search(r'<dl class="summary" id="summary">(.*?)</dl>', korean, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", summary)).strip()
    assert text.startswith("스타일 따뜻한 원목 ")
    assert f"{made.year}년 {made.month}월 {made.day}일" in text
    assert not re.search(r"[A-Za-z]{2,}", text), text


def test_planned_items_are_named_in_korean_when_the_planner_gave_korean_words(web):
    _post_new(web)
    job = _job()
    Recommendation.objects.create(
        job=job,
        position=1,
        label="monitor light",
        query_ko="모니터 조명",
        placement="on the monitor",
        label_ko="모니터 조명",
        placement_ko="모니터 위",
    )
    english = _page(web, job)
    assert '<span class="item-label">Monitor light</span>' in english
    assert '<span class="item-placement">on the monitor</span>' in english
    korean = _page(web, job, HTTP_ACCEPT_LANGUAGE="ko")
    assert '<span class="item-label">모니터 조명</span>' in korean
    assert '<span class="item-placement">모니터 위</span>' in korean


def test_in_language_prefers_korean_words_and_falls_back_to_english():
    template = Template('{% load job_ui %}{% in_language item "label" %}/{% in_language item "placement" %}')
    both = {"label": "lamp", "label_ko": "조명", "placement": "left", "placement_ko": ""}
    old = SimpleNamespace(label="lamp", placement="left")  # a row from before Korean names existed
    with translation.override("ko"):
        assert template.render(Context({"item": both})) == "조명/left"
        assert template.render(Context({"item": old})) == "lamp/left"
    with translation.override("en"):
        assert template.render(Context({"item": both})) == "lamp/left"


def test_restyle_dropdown_and_failure_messages_are_korean(web):
    _post_new(web)
    job = _job()
    job_services.job_fail(job_id=job.id, code="not_a_desk", message="This doesn't look like a desk.")
    page = _page(web, job, HTTP_ACCEPT_LANGUAGE="ko")
    assert "책상 사진이 아닌 것 같아요." in page
    error = re.search(r'<div class="error" role="alert" id="job-error">(.*?)</div>', page, re.S).group(1)
    assert not re.search(r"[A-Za-z]{2,}", re.sub(r"<[^>]+>", "", error)), error
    from makeovers.forms import RestyleForm

    with translation.override("ko"):
        rendered = str(RestyleForm()["style"])
    assert ">따뜻한 원목</option>" in rendered
    assert ">게이머 네온</option>" in rendered


# --- Queue and ETA words ---------------------------------------------------------------------------------


def _state(**changes) -> JobState:
    base = dict(
        status="queued",
        status_label="Queued",
        stage="queued",
        stage_label="Waiting in line",
        percent=0.0,
        step=0,
        total_steps=0,
        queue_position=None,
        eta_seconds=None,
        error_code="",
        error_message="",
    )
    return JobState(**{**base, **changes})


def test_queue_and_eta_words():
    with translation.override("en"):
        assert job_eta_text(_state(queue_position=2, eta_seconds=290)) == "2 ahead of you · about 5 min"
        assert job_eta_text(_state(queue_position=0, eta_seconds=40)) == "You're next · less than a minute"
        assert job_eta_text(_state(queue_position=0)) == "You're next"
        starting = _state(status="running", stage="starting", queue_position=None, eta_seconds=None)
        assert job_eta_text(starting) == ""
        assert job_eta_text(_state(status="running", stage="painting", eta_seconds=42)) == "about 42 s left"
        assert job_eta_text(_state(status="running", stage="painting", eta_seconds=150)) == "about 3 min left"
    with translation.override("ko"):
        assert job_eta_text(_state(queue_position=2, eta_seconds=290)) == "앞에 2개 · 약 5분"
        assert job_eta_text(_state(queue_position=0, eta_seconds=40)) == "다음 차례예요 · 1분 이내"


def test_the_progress_page_says_how_many_are_ahead(web):
    _post_new(web)
    _post_new(web)
    page = _page(web, _job())
    assert re.search(
        r'<span class="muted" id="job-eta">1 ahead of you( · about \d+ min| · less than a minute)?</span>', page
    )
    assert 'data-lost-label="Connection lost — reconnecting…"' in page


# --- Pictures at sensible sizes --------------------------------------------------------------------------


def _big_photo_job(client) -> GenerationJob:
    _post_new(client, photo=make_desk_photo((3000, 2000)))
    return _job()


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(b"".join(response.streaming_content)))


def test_the_page_shows_a_preview_size_and_the_download_is_the_original(web):
    job = _big_photo_job(web)
    url = reverse("generation:job_image", args=[job.id, "input"])
    preview = web.get(url + "?size=preview")
    assert preview.status_code == 200
    assert _image(preview).size == (1280, 853)
    assert default_storage.exists(f"{job.output_prefix}preview-input.jpg"), "made once, kept with the job"
    assert _image(web.get(url)).size == (3000, 2000), "the URL without a size is the original, as before"
    download = web.get(url + "?download=1&size=preview")
    assert _image(download).size == (3000, 2000)
    assert download["Content-Disposition"].startswith("attachment;")
    page = _page(web, job)
    assert f'src="{url}?size=preview"' in page
    web.post(reverse("makeovers:delete", args=[job.id]))
    assert not default_storage.exists(f"{job.output_prefix}preview-input.jpg")


def test_a_small_picture_is_its_own_preview(web):
    _post_new(web)
    job = _job()
    url = reverse("generation:job_image", args=[job.id, "input"])
    assert _image(web.get(url + "?size=preview")).size == (320, 240)
    assert not default_storage.exists(f"{job.output_prefix}preview-input.jpg")


def test_the_api_image_url_still_returns_the_original(web, user):
    from rest_framework.test import APIClient

    job = _big_photo_job(web)
    api = APIClient()
    api.force_authenticate(user)
    response = api.get(reverse("api:job_image", args=[job.id, "input"]))
    assert response.status_code == 200
    assert _image(response).size == (3000, 2000)


# --- The home page's showcase and the style cards --------------------------------------------------------


def _showcase() -> Showcase:
    showcase = Showcase(title_en="A gamer's corner", title_ko="게이머의 구석")
    for side, size in (("before", (2400, 1600)), ("after", (2400, 1600))):
        buffer = io.BytesIO()
        Image.new("RGB", size, (90, 60, 40)).save(buffer, format="JPEG")
        getattr(showcase, f"{side}_image").save(f"{side}.jpg", ContentFile(buffer.getvalue()), save=False)
    showcase.save()
    return showcase


def test_the_home_showcase_uses_the_slider_with_preview_sized_pictures(client, db):
    showcase = _showcase()
    page = client.get(reverse("home")).content.decode()
    before = reverse("generation:showcase_image", args=[showcase.pk, "before"])
    after = reverse("generation:showcase_image", args=[showcase.pk, "after"])
    assert f'<img class="compare-after" src="{after}?size=preview"' in page
    assert f'<img class="compare-before" src="{before}?size=preview"' in page
    assert 'src="/static/js/compare.js"' in page
    assert _image(client.get(before + "?size=preview")).size == (1280, 853)
    assert _image(client.get(before)).size == (2400, 1600)


def test_deleting_a_showcase_deletes_its_preview_copies(client, db, django_capture_on_commit_callbacks):
    from generation.media import public_preview_key

    showcase = _showcase()
    before = reverse("generation:showcase_image", args=[showcase.pk, "before"])
    assert client.get(before + "?size=preview").status_code == 200
    copy = public_preview_key(showcase.before_image.name)
    assert default_storage.exists(copy)
    with django_capture_on_commit_callbacks(execute=True):
        job_services.showcase_delete(showcase=showcase)
    assert not default_storage.exists(copy)
    assert not default_storage.exists(showcase.before_image.name)


def test_styles_without_a_preview_get_placeholders_of_their_own_colours(client, db):
    makeover_styles_load_demo()
    styles = list(Style.objects.filter(slug__in=["cozy-wood", "minimal-white", "gamer-neon"]).order_by("slug"))
    swatches = [style_swatch(style) for style in styles]
    assert len(set(swatches)) == 3
    cozy, gamer, minimal = (style_colours(style) for style in styles)
    assert cozy[:2] == ["#d2936a", "#a8744f"]  # cozy, wood
    assert gamer[:2] == ["#7c3aed", "#ff2bd6"]  # gamer, neon
    assert minimal[:2] == ["#e7e4dd", "#f5f2ec"]  # minimal, white
    twin = SimpleNamespace(slug="white-two", name_en="White", prompt_addition="", description_en="")
    other = SimpleNamespace(slug="white-three", name_en="White", prompt_addition="", description_en="")
    assert style_swatch(twin) != style_swatch(other), "the same words still look different"
    assert style_swatch(styles[0]) == style_swatch(Style.objects.get(slug="cozy-wood")), "deterministic"
    page = client.get(reverse("home")).content.decode()
    for swatch in swatches:
        assert f'<span class="style-preview swatch" aria-hidden="true" data-swatch="{swatch}"></span>' in page


def test_the_new_page_uses_the_placeholders_too(web):
    page = web.get(reverse("makeovers:new")).content.decode()
    for style in Style.objects.all():
        assert f'<span class="swatch" aria-hidden="true" data-swatch="{style_swatch(style)}"></span>' in page


# --- ImageRejected: codes and parameters, words when shown ------------------------------------------------


def test_image_rejected_carries_a_code_and_translates_when_read():
    rejected = ImageRejected.too_large(15 * 1024 * 1024)
    assert (rejected.code, rejected.params) == ("too_large", {"max_mb": 15})
    with translation.override("en"):
        assert rejected.message == "The photo is larger than 15 MB."
    with translation.override("ko"):
        assert rejected.message == "사진이 15MB보다 커요."
    with pytest.raises(ImageRejected) as caught:
        normalise_photo(b"nonsense", max_bytes=1000)
    assert caught.value.code == "not_an_image"
    with translation.override("en"):
        assert caught.value.message == "This file is not a photo we can read."
    # An old-style caller that wrote its own English sentence still gets words in the reader's language.
    with translation.override("ko"):
        assert ImageRejected("too_large", "The photo is larger than 15 MB.").message.endswith("MB보다 커요.")
