"""Writes of the picture diary: entries and their pictures. Keyword-only, one transaction each.

A picture is a job of the engine (`generation.services.job_create`) linked to its entry by a
`DiaryPicture` row, written in the same transaction: a refused job (quota) leaves nothing behind.
"""

from __future__ import annotations

import datetime
import uuid

from django.db import IntegrityError, transaction

from diary.models import DiaryEntry, DiaryPicture, Orientation
from generation import services as job_services
from generation.models import Style
from gpu_worker.contract.picture_diary import KIND, DiaryParams

# "Leave the style as it is" (None means "no style").
UNCHANGED = object()


class DiaryEntryExists(Exception):
    """The person already wrote an entry for this date (one page a day)."""

    def __init__(self, entry: DiaryEntry) -> None:
        super().__init__(f"there is already an entry for {entry.entry_date}")
        self.entry = entry


def diary_entry_create(
    *,
    owner,
    entry_date: datetime.date,
    text: str,
    mood: str = "",
    style: Style | None = None,
    orientation: str = Orientation.LANDSCAPE,
    submission_id: uuid.UUID | None = None,
    paint: bool = True,
) -> DiaryEntry:
    """Write the entry and start its first picture (unless `paint` is False: the day's pictures are
    spent, and the words must not wait for tomorrow), in one transaction.

    Raises DiaryEntryExists (the date is taken) or QuotaExceeded (nothing is written then). The same
    submission_id twice returns the first entry: a double click or a retried request makes one entry.
    """
    if submission_id is not None:
        earlier = _entry_of_submission(owner=owner, submission_id=submission_id)
        if earlier is not None:
            return earlier
    try:
        with transaction.atomic():
            entry = DiaryEntry(
                owner=owner, entry_date=entry_date, text=text, mood=mood, style=style, orientation=orientation
            )
            _save_unique(entry)
            if paint:
                _paint(entry=entry, submission_id=submission_id)
    except DiaryEntryExists:
        # The same submission, sent twice at once: the other request won, and this is its entry.
        earlier = _entry_of_submission(owner=owner, submission_id=submission_id) if submission_id else None
        if earlier is None:
            raise
        return earlier
    return entry


def diary_entry_update(
    *,
    entry: DiaryEntry,
    text: str | None = None,
    mood: str | None = None,
    entry_date: datetime.date | None = None,
    orientation: str | None = None,
) -> DiaryEntry:
    """Change what was written (the pictures stay as they are until the person repaints)."""
    for field, value in (("text", text), ("mood", mood), ("entry_date", entry_date), ("orientation", orientation)):
        if value is not None:
            setattr(entry, field, value)
    with transaction.atomic():
        _save_unique(entry)
    return entry


def diary_picture_paint(
    *,
    entry: DiaryEntry,
    style: Style | object | None = UNCHANGED,
    orientation: str | None = None,
    submission_id: uuid.UUID | None = None,
) -> DiaryPicture:
    """Another picture of the entry: a new seed, the current text, and optionally another style or shape.

    The new style and shape become the entry's own only if the job is accepted (QuotaExceeded rolls back).
    """
    with transaction.atomic():
        fields = []
        if style is not UNCHANGED:
            entry.style = style
            fields.append("style")
        if orientation is not None:
            entry.orientation = orientation
            fields.append("orientation")
        if fields:
            entry.save(update_fields=[*fields, "updated_at"])
        return _paint(entry=entry, submission_id=submission_id)


def diary_entry_delete(*, entry: DiaryEntry) -> None:
    """Delete the entry, every picture's job and their files (the engine deletes each job's files).

    Job by job: each deletion commits before its files go, so a crash half-way leaves a smaller,
    consistent entry that can be deleted again.
    """
    for picture in list(entry.pictures.select_related("job")):
        job_services.job_delete(job=picture.job)
    entry.delete()


def _paint(*, entry: DiaryEntry, submission_id: uuid.UUID | None = None) -> DiaryPicture:
    params = DiaryParams(
        text=entry.text,
        seed=job_services.new_seed(),
        mood=entry.mood,
        orientation=entry.orientation,
        style=job_services.style_spec(entry.style),
    )
    job = job_services.job_create(
        owner=entry.owner, kind=KIND, params=params, style=entry.style, submission_id=submission_id
    )
    picture, _ = DiaryPicture.objects.get_or_create(job=job, defaults={"entry": entry})
    return picture


def _save_unique(entry: DiaryEntry) -> None:
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        existing = DiaryEntry.objects.filter(owner=entry.owner, entry_date=entry.entry_date).first()
        if existing is None or existing.pk == entry.pk:
            raise
        raise DiaryEntryExists(existing) from None


def _entry_of_submission(*, owner, submission_id: uuid.UUID) -> DiaryEntry | None:
    picture = (
        DiaryPicture.objects.filter(job__owner=owner, job__submission_id=submission_id).select_related("entry").first()
    )
    return picture.entry if picture else None


# Admin-curated in production; these make the demo (and a fresh `make run`) have something to pick.
DEMO_STYLES = [
    {
        "slug": "watercolor",
        "name_en": "Watercolor",
        "name_ko": "수채화",
        "description_en": "Soft washes of colour on textured paper.",
        "description_ko": "결이 살아 있는 종이 위에 번지는 부드러운 색.",
        "prompt_addition": "soft watercolor painting, gentle washes, paper texture, light and airy",
        "negative_prompt_addition": "photo, 3d render, harsh outlines, text, watermark",
    },
    {
        "slug": "crayon",
        "name_en": "Crayon",
        "name_ko": "크레파스",
        "description_en": "Bold, waxy strokes like a childhood picture diary.",
        "description_ko": "어릴 적 그림일기처럼 꾹꾹 눌러 그린 크레파스 그림.",
        "prompt_addition": "crayon drawing, waxy strokes, childlike picture diary, bright colours on paper",
        "negative_prompt_addition": "photo, realistic, 3d render, text, watermark",
    },
    {
        "slug": "webtoon",
        "name_en": "Webtoon",
        "name_ko": "웹툰",
        "description_en": "Clean lines and flat colours, like a Korean webtoon panel.",
        "description_ko": "깔끔한 선과 선명한 색, 웹툰의 한 장면처럼.",
        "prompt_addition": "korean webtoon style, clean line art, flat cel shading, vibrant colours",
        "negative_prompt_addition": "photo, blurry, sketchy, text, speech bubble, watermark",
    },
    {
        "slug": "oil-painting",
        "name_en": "Oil painting",
        "name_ko": "유화",
        "description_en": "Rich colours and visible brush strokes on canvas.",
        "description_ko": "캔버스 위에 두껍게 올린 풍부한 색과 붓 자국.",
        "prompt_addition": "oil painting on canvas, impasto brush strokes, rich warm colours",
        "negative_prompt_addition": "photo, flat colours, cartoon, text, watermark",
    },
    {
        "slug": "pencil-sketch",
        "name_en": "Pencil sketch",
        "name_ko": "연필 스케치",
        "description_en": "A quiet graphite drawing in a sketchbook.",
        "description_ko": "스케치북에 연필로 조용히 그린 그림.",
        "prompt_addition": "pencil sketch, graphite drawing, cross-hatching, sketchbook page",
        "negative_prompt_addition": "colour, photo, 3d render, text, watermark",
    },
]


@transaction.atomic
def diary_styles_load_demo() -> int:
    """Idempotent: styles are matched by slug."""
    for order, values in enumerate(DEMO_STYLES):
        Style.objects.update_or_create(
            slug=values["slug"],
            defaults={**values, "scopes": [KIND], "ordering": order, "is_active": True},
        )
    return len(DEMO_STYLES)
