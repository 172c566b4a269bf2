"""Reads of the picture diary, always scoped to the entry's author: other people's ids are 404."""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from diary.models import MOOD_EMOJI, DiaryEntry, DiaryPicture, Mood
from generation import selectors as job_selectors
from generation.models import GenerationJob

# Months a diary page can be about (the calendar's navigation stops at both ends).
FIRST_YEAR = 1900
LAST_YEAR = 2999
# Korean calendars (and most diaries) start the week on Sunday.
FIRST_WEEKDAY = calendar.SUNDAY
# Column headings, Sunday first ("일 월 화 …" in Korean: Django's own abbreviations are whole words there).
WEEKDAY_SHORT = (
    pgettext_lazy("weekday", "Sun"),
    pgettext_lazy("weekday", "Mon"),
    pgettext_lazy("weekday", "Tue"),
    pgettext_lazy("weekday", "Wed"),
    pgettext_lazy("weekday", "Thu"),
    pgettext_lazy("weekday", "Fri"),
    pgettext_lazy("weekday", "Sat"),
)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def diary_entries_of(*, owner) -> QuerySet[DiaryEntry]:
    """Newest day first, with every picture's job fetched at once (newest picture first)."""
    pictures = DiaryPicture.objects.select_related("job", "job__style").order_by("-created_at")
    return (
        DiaryEntry.objects.filter(owner=owner)
        .select_related("style")
        .prefetch_related(Prefetch("pictures", queryset=pictures))
        .order_by("-entry_date")
    )


def diary_entry_get(*, owner, entry_id) -> DiaryEntry:
    return get_object_or_404(diary_entries_of(owner=owner), pk=entry_id)


def diary_entry_on(*, owner, entry_date: datetime.date) -> DiaryEntry | None:
    return DiaryEntry.objects.filter(owner=owner, entry_date=entry_date).first()


def diary_entries_in_month(*, owner, year: int, month: int) -> QuerySet[DiaryEntry]:
    first, last = month_bounds(year, month)
    return diary_entries_of(owner=owner).filter(entry_date__range=(first, last))


def diary_picture_get(*, owner, picture_id) -> DiaryPicture:
    pictures = DiaryPicture.objects.filter(job__owner=owner, entry__owner=owner).select_related("job", "entry")
    return get_object_or_404(pictures, pk=picture_id)


def pictures_of(entry: DiaryEntry) -> list[DiaryPicture]:
    """Newest first (uses the prefetched pictures when the entry came from `diary_entries_of`)."""
    return sorted(entry.pictures.all(), key=lambda picture: picture.created_at, reverse=True)


def picture_latest(entry: DiaryEntry) -> DiaryPicture | None:
    """The newest painting, whatever its state: its progress or failure is what the page shows."""
    pictures = pictures_of(entry)
    return pictures[0] if pictures else None


def picture_of_the_day(entry: DiaryEntry) -> DiaryPicture | None:
    """The latest picture that succeeded: the entry's picture until a newer one succeeds."""
    return next((p for p in pictures_of(entry) if p.job.status == GenerationJob.Status.SUCCEEDED), None)


def pictures_states_preload(entries) -> None:
    """The live states of the pictures a page of entries shows (each one's latest and picture of the
    day), read at once: one Redis round trip for the page, not one per picture."""
    shown = [picture_latest(entry) for entry in entries] + [picture_of_the_day(entry) for entry in entries]
    job_selectors.job_states_preload(picture.job for picture in shown if picture is not None)


def picture_outdated(*, entry: DiaryEntry, picture: DiaryPicture | None) -> bool:
    """True when the text or mood changed after this picture was painted (a repaint would differ)."""
    if picture is None:
        return False
    params = job_selectors.job_params(job=picture.job)
    return (params.text, params.mood) != (entry.text, entry.mood)


def picture_open(entry: DiaryEntry) -> DiaryPicture | None:
    """The painting still queued or running, if any (what "cancel" stops)."""
    latest = picture_latest(entry)
    return latest if latest is not None and not latest.job.is_finished else None


# ---- months and the calendar -------------------------------------------------------------------


def parse_month(value: str) -> tuple[int, int]:
    """'2026-11' → (2026, 11); raises ValueError for anything else or a month out of range."""
    match = _MONTH.match(value or "")
    if not match:
        raise ValueError("not a month")
    year, month = int(match[1]), int(match[2])
    if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12):
        raise ValueError("month out of range")
    return year, month


def month_valid(year: int, month: int) -> bool:
    return FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12


def month_bounds(year: int, month: int) -> tuple[datetime.date, datetime.date]:
    return datetime.date(year, month, 1), datetime.date(year, month, calendar.monthrange(year, month)[1])


def month_shift(year: int, month: int, delta: int) -> tuple[int, int] | None:
    """The month `delta` months away, or None past the diary's first or last month."""
    index = year * 12 + (month - 1) + delta
    shifted = (index // 12, index % 12 + 1)
    return shifted if month_valid(*shifted) else None


@dataclass(frozen=True)
class DayCell:
    date: datetime.date
    in_month: bool
    is_today: bool
    is_future: bool
    entry: DiaryEntry | None
    picture: DiaryPicture | None  # the picture of the day (succeeded), if any
    painting: bool  # a picture is still being painted


@dataclass(frozen=True)
class DiaryMonth:
    year: int
    month: int
    weeks: list[list[DayCell]]
    entries: list[DiaryEntry]
    previous: tuple[int, int] | None
    next: tuple[int, int] | None

    @property
    def first_day(self) -> datetime.date:
        return datetime.date(self.year, self.month, 1)

    @property
    def weekday_names(self) -> list[str]:
        return [str(name) for name in WEEKDAY_SHORT]


def diary_month(*, owner, year: int, month: int) -> DiaryMonth:
    """A month as calendar weeks (Sunday first); days outside the month are blank cells."""
    entries = list(diary_entries_in_month(owner=owner, year=year, month=month))
    by_date = {entry.entry_date: entry for entry in entries}
    today = timezone.localdate()
    weeks = []
    for week in calendar.Calendar(FIRST_WEEKDAY).monthdatescalendar(year, month):
        cells = []
        for day in week:
            in_month = day.month == month
            entry = by_date.get(day) if in_month else None
            cells.append(
                DayCell(
                    date=day,
                    in_month=in_month,
                    is_today=day == today,
                    is_future=day > today,
                    entry=entry,
                    picture=picture_of_the_day(entry) if entry else None,
                    painting=picture_open(entry) is not None if entry else False,
                )
            )
        weeks.append(cells)
    return DiaryMonth(
        year=year,
        month=month,
        weeks=weeks,
        entries=sorted(entries, key=lambda e: e.entry_date),
        previous=month_shift(year, month, -1),
        next=month_shift(year, month, 1),
    )


def diary_moods() -> list[dict[str, str]]:
    """Every mood with its translated label and emoji, in the order people pick them."""
    return [{"code": code, "label": str(label), "emoji": MOOD_EMOJI[code]} for code, label in Mood.choices]
