"""The printable month: one A4 PDF page, a calendar grid with each day's picture where its day is."""

from __future__ import annotations

import datetime
import glob
import re

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from diary import export
from diary import services as diary_services
from tests.test_diary_web import diary_styles, finish_picture, picture_jobs, write_entry

pytestmark = pytest.mark.django_db(transaction=True)

OCTOBER = (2026, 10)
RED, BLUE, GREEN, WHITE = (200, 30, 30), (20, 40, 210), (30, 160, 60), (255, 255, 255)


@pytest.fixture
def painted(user, redis_clean):
    """Two October days with pictures: the 3rd red, the 17th blue."""
    diary_styles()
    for day, colour in ((3, RED), (17, BLUE)):
        entry = write_entry(user, datetime.date(2026, 10, day), text="오늘은 공원에서 산책을 했다. " * 5)
        finish_picture(picture_jobs(entry)[0], colour=colour)


def _centre(box) -> tuple[int, int]:
    """A point well inside a picture drawn in `box` (pictures sit at the top of their box)."""
    return (box[0] + box[2]) // 2, box[1] + 20


def _sheet(user, language="en"):
    return export.month_sheet(owner=user, year=OCTOBER[0], month=OCTOBER[1], language=language)


def test_the_sheet_is_an_a4_page(user, painted):
    assert _sheet(user).size == (1240, 1754)  # A4 at 150 dpi


def test_each_days_picture_is_drawn_in_its_cell(user, painted):
    sheet, layout = _sheet(user), export.sheet_layout(*OCTOBER)
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 3)))) == RED
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 17)))) == BLUE
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 4)))) == WHITE


def test_the_week_starts_on_sunday(user):
    layout = export.sheet_layout(2026, 11)
    assert layout.cell_box(datetime.date(2026, 11, 1))[0] == export.MARGIN  # 1 Nov 2026 is a Sunday
    assert len(layout.weeks) == 5


def test_the_picture_of_the_day_is_the_latest_that_succeeded(user, painted):
    third = user.diary_entries.get(entry_date=datetime.date(2026, 10, 3))
    finish_picture(diary_services.diary_picture_paint(entry=third).job, colour=GREEN)
    diary_services.diary_picture_paint(entry=third)  # still painting: not drawn
    sheet, layout = _sheet(user), export.sheet_layout(*OCTOBER)
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 3)))) == GREEN


def test_a_missing_picture_file_leaves_a_grey_box(user, painted):
    job = picture_jobs(user.diary_entries.get(entry_date=datetime.date(2026, 10, 17)))[0]
    default_storage.delete(job.result["outputs"][0]["key"])
    sheet, layout = _sheet(user), export.sheet_layout(*OCTOBER)
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 17)))) == export.NO_PICTURE


def test_another_persons_pictures_are_never_on_my_sheet(other_user, painted):
    sheet = _sheet(other_user)
    layout = export.sheet_layout(*OCTOBER)
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 3)))) == WHITE
    assert export.month_pdf(owner=other_user, year=2026, month=10, language="en") is None


def test_the_pdf_is_one_page(user, painted):
    pdf = export.month_pdf(owner=user, year=2026, month=10, language="ko")
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1


def _text_band(layout, day):
    """The rest of the cell under a day's (landscape, 4:3) picture: where its first words go."""
    left, top, right, _ = layout.picture_box(day)
    picture_bottom = top + (right - left) * 3 // 4
    return left, picture_bottom + 2, right, layout.cell_box(day)[3] - 2


def _ink(sheet, box) -> int:
    return sum(sheet.crop(box).convert("L").histogram()[:128])  # dark pixels


@pytest.mark.skipif(not glob.glob("/usr/share/fonts/**/NotoSansCJK*", recursive=True), reason="no CJK font here")
def test_the_first_words_are_written_with_a_cjk_font(user, painted):
    assert "CJK" in export.cjk_font()[0]
    sheet, layout = _sheet(user, "ko"), export.sheet_layout(*OCTOBER)
    assert _ink(sheet, _text_band(layout, datetime.date(2026, 10, 3))) > 100
    assert _ink(sheet, _text_band(layout, datetime.date(2026, 10, 4))) == 0


def test_without_a_cjk_font_there_is_no_text_but_still_the_pictures(user, painted, monkeypatch):
    monkeypatch.setattr(export, "cjk_font", lambda: None)
    sheet, layout = _sheet(user, "ko"), export.sheet_layout(*OCTOBER)
    assert _ink(sheet, _text_band(layout, datetime.date(2026, 10, 3))) == 0
    assert sheet.getpixel(_centre(layout.picture_box(datetime.date(2026, 10, 3)))) == RED
    assert export.month_pdf(owner=user, year=2026, month=10, language="ko").startswith(b"%PDF-")


@pytest.mark.skipif(not glob.glob("/usr/share/fonts/**/NotoSansCJK*", recursive=True), reason="no CJK font here")
def test_long_korean_text_is_cut_to_three_lines_with_an_ellipsis():
    from PIL import ImageFont

    path, index = export.cjk_font()
    font = ImageFont.truetype(path, export.TEXT_SIZE, index=index)
    lines = export._first_words("가나다라마바사아자차카타파하" * 20, font, 148, 3)
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert all(font.getlength(line) <= 148 for line in lines)


def test_short_text_wraps_at_spaces():
    from PIL import ImageFont

    font = ImageFont.load_default(17)
    assert export._first_words("a walk in the park", font, 1000, 3) == ["a walk in the park"]
    lines = export._first_words("a walk in the park", font, font.getlength("a walk in"), 3)
    assert lines == ["a walk in", "the park"]


# ---- the website's export --------------------------------------------------------------------------


def test_the_website_serves_the_month_pdf_to_its_author(logged_in_client, painted):
    response = logged_in_client.get(reverse("diary:export", args=OCTOBER))
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"] == 'inline; filename="diary-2026-10.pdf"'


def test_another_persons_month_is_404(client, other_user, painted):
    client.force_login(other_user)
    assert client.get(reverse("diary:export", args=OCTOBER)).status_code == 404


def test_the_export_needs_an_account(client, painted):
    response = client.get(reverse("diary:export", args=OCTOBER))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_calendar_offers_the_export_only_for_months_with_entries(logged_in_client, painted):
    october = logged_in_client.get(reverse("diary:month", args=OCTOBER)).content.decode()
    september = logged_in_client.get(reverse("diary:month", args=[2026, 9])).content.decode()
    assert reverse("diary:export", args=OCTOBER) in october
    assert reverse("diary:export", args=[2026, 9]) not in september
