"""The picture diary's website: write, calendar, timeline, entry page, edit, repaint, delete, privacy."""

from __future__ import annotations

import datetime
import io
import re
import uuid
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from diary import services as diary_services
from diary.models import DiaryEntry, DiaryPicture, Mood
from generation import dispatch
from generation import selectors as job_selectors
from generation import services as job_services
from generation.models import GenerationJob, Style
from gpu_worker.contract import JobResult, JobStatus, OutputImage
from gpu_worker.contract.codec import encode
from gpu_worker.contract.picture_diary import MOODS, DiaryResult

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = timezone.localdate


# ---- helpers shared by the diary's test files ----------------------------------------------------


def diary_styles() -> list[Style]:
    diary_services.diary_styles_load_demo()
    return list(Style.objects.filter(scopes__contains=["picture_diary"]).order_by("ordering"))


def write_entry(owner, day: datetime.date, text: str = "오늘은 한강에서 자전거를 탔다.", **kwargs) -> DiaryEntry:
    """An entry as the website writes it: in the first diary style unless told otherwise."""
    kwargs.setdefault("style", Style.objects.filter(scopes__contains=["picture_diary"]).order_by("ordering").first())
    return diary_services.diary_entry_create(owner=owner, entry_date=day, text=text, **kwargs)


def finish_picture(job: GenerationJob, colour=(200, 30, 30), size=(64, 48)) -> str:
    """What the GPU worker and finalize do for a diary job: a stored result image and a typed result."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    key = default_storage.save(f"{job.output_prefix}result.png", ContentFile(buffer.getvalue()))
    params = job_selectors.job_params(job=job)
    data = DiaryResult(
        seed=params.seed,
        steps=4,
        guidance=7.0,
        prompt="a picture diary page",
        negative_prompt="",
        writer="local",
        writer_fallback_reason=None,
        style=params.style.slug if params.style else "",
        lora=None,
        width=size[0],
        height=size[1],
    )
    result = JobResult(
        job_id=str(job.id),
        status=JobStatus.SUCCEEDED,
        outputs=[OutputImage(role="result", key=key, width=size[0], height=size[1])],
        data=encode(data),
    )
    assert job_services.job_finalize(job_id=job.id, result=result)
    return key


def picture_jobs(entry: DiaryEntry) -> list[GenerationJob]:
    return [p.job for p in DiaryPicture.objects.filter(entry=entry).select_related("job").order_by("created_at")]


def month_ago() -> datetime.date:
    """A day in the previous month (always in the past, whatever today is)."""
    return TODAY().replace(day=1) - datetime.timedelta(days=20)


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def styles(db):
    return diary_styles()


@pytest.fixture
def web(logged_in_client, redis_clean, styles):
    return logged_in_client


def _post_new(client, styles, language="en", **fields):
    data = {
        "entry_date": TODAY().isoformat(),
        "text": "I walked along the Han river.",
        "mood": "calm",
        "style": styles[0].pk,
        "orientation": "landscape",
        **fields,
    }
    return client.post(reverse("diary:new"), data, HTTP_ACCEPT_LANGUAGE=language)


# ---- writing -------------------------------------------------------------------------------------


def test_the_form_offers_styles_moods_shapes_and_the_quota(web):
    page = web.get(reverse("diary:new")).content.decode()
    assert "5 of 5 diary pictures left today." in page
    for name in ("Watercolor", "Crayon", "Webtoon", "Oil painting", "Pencil sketch"):
        assert name in page
    assert "😊 Happy" in page
    assert 'value="portrait"' in page
    assert 'name="submission_id"' in page


def test_the_form_speaks_korean(web):
    page = web.get(reverse("diary:new"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "오늘 그림일기 5장 중 5장 남았어요." in page
    assert "수채화" in page
    assert "😊 행복해요" in page
    assert "세로 (3:4)" in page


def test_the_date_defaults_to_today_in_seoul(web):
    # 15:30 UTC is already the next day in Seoul.
    now = datetime.datetime(2026, 11, 22, 15, 30, tzinfo=datetime.UTC)
    with mock.patch("django.utils.timezone.now", return_value=now):
        page = web.get(reverse("diary:new")).content.decode()
    assert 'value="2026-11-23"' in page


def test_writing_an_entry_starts_its_picture(web, user, styles):
    response = _post_new(web, styles, mood="happy", orientation="portrait")
    entry = DiaryEntry.objects.get()
    assert response["Location"] == reverse("diary:detail", args=[entry.id])
    assert (entry.owner, entry.entry_date, entry.mood, entry.style) == (user, TODAY(), "happy", styles[0])
    job = GenerationJob.objects.get()
    assert (job.kind, job.status, job.style) == ("picture_diary", "queued", styles[0])
    params = job_selectors.job_params(job=job)
    assert (params.text, params.mood, params.orientation) == ("I walked along the Han river.", "happy", "portrait")
    assert params.style.slug == "watercolor"
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).origin == "gpu-diary"


def test_line_breaks_count_as_one_character(web, styles):
    text = ("a" * 99 + "\r\n") * 20  # 2,000 characters as a person sees them, 2,020 as sent
    assert _post_new(web, styles, text=text).status_code == 302
    assert len(DiaryEntry.objects.get().text) == 1999  # the last line break is trimmed


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "A diary entry has at most 2000 characters (it has 2001)."),
        ("ko", "일기는 2000자까지 쓸 수 있어요. (지금 2001자)"),
    ],
)
def test_too_long_text_is_refused(web, styles, language, message):
    response = _post_new(web, styles, language=language, text="가" * 2001)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DiaryEntry.objects.exists()
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "language", "message"),
    [
        ("entry_date", "2026-13-45", "en", "Enter a real date, like 2026-11-03."),
        ("entry_date", "2026-13-45", "ko", "2026-11-03처럼 올바른 날짜를 입력해 주세요."),
        ("entry_date", "2999-01-01", "en", "That day hasn&#x27;t come yet. Pick today or an earlier day."),
        ("entry_date", "2999-01-01", "ko", "아직 오지 않은 날이에요. 오늘이나 지난 날을 골라 주세요."),
        ("mood", "ecstatic", "en", "Pick one of the moods."),
        ("mood", "ecstatic", "ko", "기분 중 하나를 골라 주세요."),
        ("style", "999999", "en", "Pick one of the art styles."),
        ("style", "999999", "ko", "그림 스타일 중 하나를 골라 주세요."),
        ("text", "   ", "en", "Write a few words about your day."),
        ("text", "   ", "ko", "오늘 하루를 몇 마디 적어 주세요."),
    ],
)
def test_bad_input_is_a_translated_form_error(web, styles, field, value, language, message):
    response = _post_new(web, styles, language=language, **{field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DiaryEntry.objects.exists()


def test_a_makeover_style_is_not_a_diary_style(web, styles):
    desk = Style.objects.create(slug="cozy", name_en="Cozy", name_ko="코지", scopes=["desk_makeover"])
    assert _post_new(web, styles, style=desk.pk).status_code == 400


def test_one_entry_per_day(web, styles):
    _post_new(web, styles)
    again = _post_new(web, styles, text="Another page for the same day.")
    assert again.status_code == 409
    page = again.content.decode()
    assert "You already wrote in your diary for this day." in page
    assert reverse("diary:detail", args=[DiaryEntry.objects.get().id]) in page
    assert GenerationJob.objects.count() == 1


def test_the_same_form_twice_is_one_entry(web, styles):
    submission = str(uuid.uuid4())
    first = _post_new(web, styles, submission_id=submission)
    second = _post_new(web, styles, submission_id=submission)
    assert first["Location"] == second["Location"]
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (1, 1)


def test_a_new_entry_for_a_written_day_opens_that_day(web, user):
    entry = write_entry(user, month_ago())
    response = web.get(reverse("diary:new") + f"?date={month_ago().isoformat()}")
    assert response["Location"] == reverse("diary:detail", args=[entry.id])


def test_a_day_from_the_calendar_fills_the_date(web):
    day = month_ago()
    page = web.get(reverse("diary:new") + f"?date={day.isoformat()}").content.decode()
    assert f'value="{day.isoformat()}"' in page


# ---- quota ---------------------------------------------------------------------------------------


def test_the_quota_stops_the_form_with_a_message(web, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    assert _post_new(web, styles).status_code == 302
    refused = _post_new(web, styles, entry_date=month_ago().isoformat())
    assert refused.status_code == 429
    assert "You have used today&#x27;s 1 diary pictures. Come back tomorrow for more." in refused.content.decode()
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (1, 1)


def test_with_the_pictures_spent_the_words_can_still_be_saved(web, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    assert _post_new(web, styles).status_code == 302
    form = web.get(reverse("diary:new")).content.decode()
    assert 'id="save-without-picture"' in form
    saved = _post_new(web, styles, entry_date=month_ago().isoformat(), paint="0")
    assert saved.status_code == 302
    entry = DiaryEntry.objects.get(entry_date=month_ago())
    assert saved["Location"] == reverse("diary:detail", args=[entry.id])
    assert GenerationJob.objects.count() == 1, "no picture was started for it"
    assert "No picture yet." in web.get(saved["Location"]).content.decode()


def test_bad_input_is_400_even_when_the_quota_is_spent(web, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 0
    assert _post_new(web, styles, mood="ecstatic").status_code == 400


def test_failed_and_cancelled_pictures_do_not_count(web, user, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    entry = write_entry(user, month_ago())
    job_services.job_cancel(job=picture_jobs(entry)[0])
    diary_services.diary_picture_paint(entry=entry)
    GenerationJob.objects.filter(status="queued").update(status="failed", error_code="internal")
    assert _post_new(web, styles).status_code == 302


def test_makeovers_do_not_use_up_diary_pictures(web, user, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    GenerationJob.objects.create(owner=user, kind="desk_makeover", status="succeeded")
    assert job_services.quota_of(owner=user, kind="picture_diary").remaining == 1
    assert _post_new(web, styles).status_code == 302


# ---- calendar and timeline -----------------------------------------------------------------------


def _cell(page: str, day: datetime.date) -> str:
    match = re.search(rf'<td class="day[^"]*" data-date="{day.isoformat()}">(.*?)</td>', page, re.S)
    assert match, f"no cell for {day}"
    return match[1]


def test_the_calendar_puts_each_entry_on_its_day(web, user):
    first = month_ago().replace(day=3)
    second = month_ago().replace(day=17)
    entries = [write_entry(user, first), write_entry(user, second)]
    for entry in entries:
        finish_picture(picture_jobs(entry)[0])
    page = web.get(reverse("diary:month", args=[first.year, first.month])).content.decode()
    for entry in entries:
        cell = _cell(page, entry.entry_date)
        assert reverse("diary:detail", args=[entry.id]) in cell
        assert reverse("generation:job_image", args=[picture_jobs(entry)[0].id, "thumb"]) in cell
    empty = _cell(page, first.replace(day=4))
    assert f"{reverse('diary:new')}?date={first.replace(day=4).isoformat()}" in empty
    assert "<img" not in empty


def test_the_calendar_has_every_day_of_the_month_once(web):
    response = web.get(reverse("diary:month", args=[2026, 2]))
    days = [cell.date for week in response.context["diary_month"].weeks for cell in week if cell.in_month]
    assert days == [datetime.date(2026, 2, d) for d in range(1, 29)]
    assert response.context["diary_month"].weeks[0][0].date == datetime.date(2026, 2, 1), "Feb 1 2026 is a Sunday"


def test_a_day_still_painting_has_no_thumbnail_yet(web, user):
    entry = write_entry(user, month_ago())
    page = web.get(reverse("diary:month", args=[month_ago().year, month_ago().month])).content.decode()
    cell = _cell(page, entry.entry_date)
    assert "<img" not in cell
    assert "painting" in cell


def test_the_calendar_navigates_between_months_and_years(web):
    page = web.get(reverse("diary:month", args=[2025, 12])).content.decode()
    assert reverse("diary:month", args=[2025, 11]) in page
    assert reverse("diary:month", args=[2026, 1]) in page
    assert "December 2025" in page
    korean = web.get(reverse("diary:month", args=[2025, 12]), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "2025년 12월" in korean


def test_the_diary_opens_on_this_month(web):
    response = web.get(reverse("diary:calendar"))
    month = response.context["diary_month"]
    assert (month.year, month.month) == (TODAY().year, TODAY().month)


def test_a_month_that_does_not_exist_is_404(web):
    assert web.get(reverse("diary:month", args=[2026, 13])).status_code == 404
    assert web.get(reverse("diary:month", args=[1899, 12])).status_code == 404


def test_the_calendar_shows_only_my_entries(web, other_user):
    theirs = write_entry(other_user, month_ago())
    page = web.get(reverse("diary:month", args=[month_ago().year, month_ago().month])).content.decode()
    assert str(theirs.id) not in page
    assert "No diary entries this month." in page


def test_the_timeline_is_newest_first_and_paginated(web, user, settings):
    settings.DAILY_GENERATION_LIMIT = 20
    days = [TODAY() - datetime.timedelta(days=n) for n in range(12)]
    for day in reversed(days):
        write_entry(user, day, text=f"Day {day.isoformat()}")
    first = web.get(reverse("diary:timeline"))
    assert [row["entry"].entry_date for row in first.context["rows"]] == days[:10]
    second = web.get(reverse("diary:timeline") + "?page=2")
    assert [row["entry"].entry_date for row in second.context["rows"]] == days[10:]


def test_the_timeline_shows_the_picture_of_the_day(web, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    finish_picture(job)
    page = web.get(reverse("diary:timeline")).content.decode()
    assert reverse("generation:job_image", args=[job.id, "thumb"]) in page


def test_the_header_links_to_the_diary(web):
    page = web.get(reverse("diary:timeline")).content.decode()
    assert f'<a href="{reverse("diary:calendar")}">My diary</a>' in page


# ---- the entry page --------------------------------------------------------------------------------


def test_the_entry_page_shows_live_progress_while_painting(web, user):
    entry = write_entry(user, month_ago(), mood="grateful")
    job = picture_jobs(entry)[0]
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    assert f'data-status-url="{reverse("generation:job_status", args=[job.id])}"' in page
    assert reverse("generation:job_cancel", args=[job.id]) in page
    assert "Waiting in line" in page
    assert "🙏 Grateful" in page
    assert "오늘은 한강에서 자전거를 탔다." in page


def test_the_entry_page_shows_the_picture_with_the_text(web, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    finish_picture(job)
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    assert reverse("generation:job_image", args=[job.id, "result"]) in page
    assert 'id="job"' not in page, "nothing is painting"
    assert reverse("diary:download", args=[entry.id]) in page


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This diary entry has nothing to paint. Write a few words and try again."),
        ("ko", "그릴 내용이 없는 일기예요. 몇 마디 적고 다시 시도해 주세요."),
    ],
)
def test_a_failure_says_why_in_the_readers_language_and_offers_a_retry(web, user, language, message):
    entry = write_entry(user, month_ago())
    job_services.job_fail(job_id=picture_jobs(entry)[0].id, code="empty_entry", message="empty")
    page = web.get(reverse("diary:detail", args=[entry.id]), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert message in page
    assert 'id="retry"' in page


def test_a_retry_paints_again(web, user):
    entry = write_entry(user, month_ago())
    job_services.job_fail(job_id=picture_jobs(entry)[0].id, code="internal", message="boom")
    web.post(reverse("diary:repaint", args=[entry.id]))
    assert [job.status for job in picture_jobs(entry)] == ["failed", "queued"]


def test_cancelling_returns_to_the_entry(web, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    response = web.post(reverse("generation:job_cancel", args=[job.id]))
    assert response["Location"] == reverse("diary:detail", args=[entry.id])
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_the_last_good_picture_stays_while_a_new_one_paints(web, user):
    entry = write_entry(user, month_ago())
    old = picture_jobs(entry)[0]
    finish_picture(old)
    new = diary_services.diary_picture_paint(entry=entry).job
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    assert reverse("generation:job_image", args=[old.id, "result"]) in page
    assert reverse("generation:job_status", args=[new.id]) in page


# ---- edit and repaint ------------------------------------------------------------------------------


def _edit(client, entry, language="en", **fields):
    data = {"entry_date": entry.entry_date.isoformat(), "text": entry.text, "mood": entry.mood, **fields}
    return client.post(reverse("diary:edit", args=[entry.id]), data, HTTP_ACCEPT_LANGUAGE=language)


def test_editing_the_text_keeps_the_picture(web, user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    finish_picture(job)
    response = _edit(web, entry, text="I rode my bike along the river instead.", mood="excited", save="")
    assert response["Location"] == reverse("diary:detail", args=[entry.id])
    entry.refresh_from_db()
    assert (entry.text, entry.mood) == ("I rode my bike along the river instead.", "excited")
    assert picture_jobs(entry) == [job]
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    assert reverse("generation:job_image", args=[job.id, "result"]) in page
    assert "You changed the entry after this picture was painted." in page


def test_save_and_repaint_paints_the_new_text(web, user):
    entry = write_entry(user, month_ago())
    _edit(web, entry, text="Snow fell all day.", repaint="")
    jobs = picture_jobs(entry)
    assert len(jobs) == 2
    assert job_selectors.job_params(job=jobs[1]).text == "Snow fell all day."


def test_moving_an_entry_onto_a_written_day_is_refused(web, user):
    written = write_entry(user, month_ago())
    other = write_entry(user, month_ago() + datetime.timedelta(days=1))
    response = _edit(web, other, entry_date=written.entry_date.isoformat(), save="")
    assert response.status_code == 409
    other.refresh_from_db()
    assert other.entry_date == month_ago() + datetime.timedelta(days=1)


def test_another_picture_has_a_new_seed_and_the_same_style(web, user, styles):
    entry = write_entry(user, month_ago(), style=styles[1])
    response = web.post(reverse("diary:repaint", args=[entry.id]))
    assert response["Location"] == reverse("diary:detail", args=[entry.id])
    first, second = (job_selectors.job_params(job=job) for job in picture_jobs(entry))
    assert first.seed != second.seed
    assert first.style.slug == second.style.slug == "crayon"


def test_a_double_tap_on_another_picture_makes_one_picture(web, user, styles):
    entry = write_entry(user, month_ago(), style=styles[1])
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    submission_id = re.search(r'name="submission_id" value="([0-9a-f-]{36})"', page)[1]
    for _ in range(2):
        web.post(reverse("diary:repaint", args=[entry.id]), {"submission_id": submission_id})
    assert len(picture_jobs(entry)) == 2, "the first picture and one more, not two more"
    assert job_services.quota_of(owner=user, kind="picture_diary").used == 2


def test_another_style_and_shape(web, user, styles):
    entry = write_entry(user, month_ago(), style=styles[0])
    web.post(reverse("diary:repaint", args=[entry.id]), {"style": styles[2].pk, "orientation": "portrait"})
    latest = job_selectors.job_params(job=picture_jobs(entry)[1])
    assert (latest.style.slug, latest.orientation) == ("webtoon", "portrait")
    entry.refresh_from_db()
    assert (entry.style, entry.orientation) == (styles[2], "portrait")


def test_repainting_past_the_quota_says_so_and_changes_nothing(web, user, styles, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    entry = write_entry(user, month_ago(), style=styles[0])
    response = web.post(reverse("diary:repaint", args=[entry.id]), {"style": styles[3].pk}, follow=True)
    assert "Come back tomorrow for more." in response.content.decode()
    entry.refresh_from_db()
    assert entry.style == styles[0]
    assert len(picture_jobs(entry)) == 1


# ---- delete, download, privacy -------------------------------------------------------------------


def test_delete_removes_the_entry_its_pictures_and_their_files(web, user):
    entry = write_entry(user, month_ago())
    finish_picture(picture_jobs(entry)[0])
    diary_services.diary_picture_paint(entry=entry)
    finish_picture(picture_jobs(entry)[1], colour=(0, 0, 200))
    jobs = picture_jobs(entry)
    keys = [job_selectors.job_output_key(job=job, role="result") for job in jobs]
    web.get(reverse("generation:job_image", args=[jobs[0].id, "thumb"]))
    keys.append(f"{jobs[0].output_prefix}thumb.jpg")
    assert all(default_storage.exists(key) for key in keys)
    response = web.post(reverse("diary:delete", args=[entry.id]))
    assert response["Location"] == reverse("diary:month", args=[entry.entry_date.year, entry.entry_date.month])
    assert (DiaryEntry.objects.count(), DiaryPicture.objects.count(), GenerationJob.objects.count()) == (0, 0, 0)
    assert [key for key in keys if default_storage.exists(key)] == []


def test_download_is_named_after_the_day(web, user):
    entry = write_entry(user, datetime.date(2026, 10, 9))
    finish_picture(picture_jobs(entry)[0])
    response = web.get(reverse("diary:download", args=[entry.id]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="diary-2026-10-09.png"'
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (64, 48)


def test_no_download_before_there_is_a_picture(web, user):
    entry = write_entry(user, month_ago())
    assert web.get(reverse("diary:download", args=[entry.id])).status_code == 404


def test_another_persons_entry_and_pictures_are_404(web, user, other_user):
    entry = write_entry(user, month_ago())
    job = picture_jobs(entry)[0]
    finish_picture(job)
    web.force_login(other_user)
    for url in (
        reverse("diary:detail", args=[entry.id]),
        reverse("diary:edit", args=[entry.id]),
        reverse("diary:download", args=[entry.id]),
        reverse("generation:job_image", args=[job.id, "result"]),
        reverse("generation:job_image", args=[job.id, "thumb"]),
        reverse("generation:job_status", args=[job.id]),
    ):
        assert web.get(url).status_code == 404, url
    for url in (
        reverse("diary:repaint", args=[entry.id]),
        reverse("diary:delete", args=[entry.id]),
        reverse("diary:edit", args=[entry.id]),
        reverse("generation:job_cancel", args=[job.id]),
    ):
        assert web.post(url).status_code == 404, url
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (1, 1)


def test_the_diary_needs_an_account(client, db):
    response = client.get(reverse("diary:calendar"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# ---- the engine's view of diary jobs ---------------------------------------------------------------


def test_every_stage_has_words_in_both_languages():
    from django.utils import translation

    from generation.handlers import handler_for
    from gpu_worker.contract.picture_diary import DiaryStage

    handler = handler_for("picture_diary")
    assert set(handler.stage_labels()) == set(DiaryStage)
    with translation.override("ko"):
        assert str(handler.stage_labels()[DiaryStage.WRITING]) == "일기를 읽는 중"
        assert job_selectors.stage_label("picture_diary", "painting", 3, 30) == "그리는 중 (30단계 중 3단계)"
    assert job_selectors.stage_label("picture_diary", "painting", 3, 30) == "Painting (step 3 of 30)"


def test_the_moods_are_the_contracts():
    assert tuple(Mood.values) == MOODS


def test_the_demo_styles_load_twice_without_doubling(db):
    diary_styles()
    styles = diary_styles()
    assert [s.slug for s in styles] == ["watercolor", "crayon", "webtoon", "oil-painting", "pencil-sketch"]
    assert all(s.scopes == ["picture_diary"] and s.name_ko and s.prompt_addition for s in styles)
    assert [s.name_ko for s in styles] == ["수채화", "크레파스", "웹툰", "유화", "연필 스케치"]


def test_the_home_page_links_a_diary_picture_to_its_entry(web, user):
    entry = write_entry(user, month_ago())
    page = web.get(reverse("home")).content.decode()
    assert reverse("diary:detail", args=[entry.id]) in page


def test_the_admin_lists_entries_without_their_text(client, user, redis_clean):
    from django.contrib.auth import get_user_model

    entry = write_entry(user, month_ago(), text="A secret only I should read.")
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-long-password")
    client.force_login(admin)
    listing = client.get(reverse("admin:diary_diaryentry_changelist")).content.decode()
    page = client.get(reverse("admin:diary_diaryentry_change", args=[entry.id])).content.decode()
    assert str(entry.entry_date.year) in listing
    assert "A secret only I should read." not in listing + page


def test_deleting_in_the_admin_deletes_the_pictures_files(client, user, redis_clean):
    from django.contrib.auth import get_user_model

    entry = write_entry(user, month_ago())
    key = finish_picture(picture_jobs(entry)[0])
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-long-password")
    client.force_login(admin)
    client.post(reverse("admin:diary_diaryentry_delete", args=[entry.id]), {"post": "yes"})
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (0, 0)
    assert not default_storage.exists(key)


def test_write_today_opens_todays_entry_once_it_is_written(web, user):
    page = web.get(reverse("diary:calendar")).content.decode()
    link = re.search(r'href="([^"]+)" id="write-today"', page)[1].replace("&amp;", "&")
    assert web.get(link).status_code == 200
    entry = write_entry(user, TODAY())
    assert web.get(link)["Location"] == reverse("diary:detail", args=[entry.id])
