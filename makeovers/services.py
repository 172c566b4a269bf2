"""Desk makeovers: create one from a photo, variations and restyles, and the shop offers on success."""

from __future__ import annotations

import uuid

from django.db import transaction

from generation import selectors as job_selectors
from generation import services as job_services
from generation.models import GenerationJob, Style, Upload
from gpu_worker.contract.desk_makeover import KIND, PHOTO_INPUT, DeskParams, DeskPreferences, DeskResult


def makeover_create(
    *,
    owner,
    upload: Upload,
    style: Style | None = None,
    preferences: DeskPreferences | None = None,
    seed: int | None = None,
    submission_id: uuid.UUID | None = None,
) -> GenerationJob:
    params = DeskParams(
        seed=seed if seed is not None else job_services.new_seed(),
        preferences=preferences or DeskPreferences(),
        style=job_services.style_spec(style),
    )
    return job_services.job_create(
        owner=owner,
        kind=KIND,
        params=params,
        inputs={PHOTO_INPUT: upload.image.name},
        upload=upload,
        style=style,
        submission_id=submission_id,
    )


def makeover_variation(*, owner, job: GenerationJob, style: Style | None = None) -> GenerationJob:
    """A new picture from the same photo: a new seed (and optionally another style). Perception is cached."""
    params: DeskParams = job_selectors.job_params(job=job)
    return makeover_create(
        owner=owner,
        upload=job.upload,
        style=style if style is not None else job.style,
        preferences=params.preferences,
    )


def makeover_offers_attach(*, job: GenerationJob, result: DeskResult) -> int:
    """Offers for each recommended item (the shop decides where from)."""
    from shop.services import job_offers_attach

    params: DeskParams = job_selectors.job_params(job=job)
    return job_offers_attach(job=job, items=result.items, preferences=params.preferences)


DEMO_STYLES = [
    (
        "cozy-wood",
        "Cozy wood",
        "따뜻한 원목",
        "Warm wood, soft light, plants.",
        "원목과 부드러운 조명, 식물.",
        "warm wooden desk accessories, soft lamp light",
    ),
    (
        "minimal-white",
        "Minimal white",
        "미니멀 화이트",
        "Clean white surfaces, few things.",
        "깔끔한 흰색, 최소한의 물건.",
        "minimalist white desk setup, clean",
    ),
    (
        "gamer-neon",
        "Gamer neon",
        "게이머 네온",
        "RGB glow and dark tones.",
        "RGB 조명과 어두운 톤.",
        "neon RGB gaming desk setup, dark room",
    ),
]


@transaction.atomic
def makeover_styles_load_demo() -> int:
    """Idempotent: styles are matched by slug."""
    for order, (slug, name_en, name_ko, desc_en, desc_ko, prompt) in enumerate(DEMO_STYLES):
        Style.objects.update_or_create(
            slug=slug,
            defaults={
                "name_en": name_en,
                "name_ko": name_ko,
                "description_en": desc_en,
                "description_ko": desc_ko,
                "prompt_addition": prompt,
                "ordering": order,
                "scopes": [KIND],
            },
        )
    return len(DEMO_STYLES)
