"""Writes. Every state change of a job happens here, once, and is safe to run twice."""

from __future__ import annotations

import logging
import secrets
import uuid

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from generation import dispatch
from generation.images import ImageRejected, normalise_photo
from generation.models import GenerationJob, Style, Upload
from gpu_worker.contract import JobKind, JobResult, JobSpec, JobStatus

logger = logging.getLogger(__name__)


def upload_create(*, owner, file: File) -> Upload:
    """Store a normalised copy of the photo. Raises ImageRejected with a person-readable message."""
    max_bytes = settings.UPLOAD_MAX_BYTES
    if file.size is not None and file.size > max_bytes:
        raise ImageRejected("too_large", f"The photo is larger than {max_bytes // (1024 * 1024)} MB.")
    # Read at most one byte past the limit: a lying size header cannot make us read more.
    photo = normalise_photo(file.read(max_bytes + 1), max_bytes=max_bytes)
    upload = Upload(owner=owner, width=photo.width, height=photo.height)
    upload.image.save(f"{uuid.uuid4().hex}.jpg", ContentFile(photo.data), save=False)
    try:
        with transaction.atomic():
            upload.save()
    except Exception:
        # No orphaned files: the row did not make it, so neither does the file.
        upload.image.storage.delete(upload.image.name)
        raise
    return upload


def job_create(
    *,
    owner,
    upload: Upload,
    kind: str = GenerationJob.Kind.DESK_MAKEOVER,
    style: Style | None = None,
    preferences: dict | None = None,
    seed: int | None = None,
) -> GenerationJob:
    """Create the job row and enqueue it after the transaction commits (never a job for a rolled-back row)."""
    with transaction.atomic():
        job = GenerationJob(owner=owner, upload=upload, kind=kind, style=style)
        params = {
            # Chosen here so the database knows it before the GPU does: a "new variation" is a new seed.
            "seed": seed if seed is not None else secrets.randbelow(2**31),
            "preferences": preferences or {},
        }
        if style is not None:
            params["style"] = _style_snapshot(style)
        spec = JobSpec(
            job_id=str(job.id),
            kind=JobKind(kind),
            input_key=upload.image.name,
            output_prefix=job.output_prefix,
            params=params,
        )
        job.spec = spec.to_dict()
        job.save()
        transaction.on_commit(lambda: job_dispatch(job_id=job.id))
    return job


def _style_snapshot(style: Style) -> dict:
    """What the style said at submission time: editing it later never changes this job."""
    return {
        "slug": style.slug,
        "prompt_addition": style.prompt_addition,
        "negative_prompt_addition": style.negative_prompt_addition,
    }


def job_dispatch(*, job_id: uuid.UUID) -> None:
    job = GenerationJob.objects.get(pk=job_id)
    try:
        dispatch.gpu_job_enqueue(spec=JobSpec.from_dict(job.spec))
    except RedisError:
        logger.exception("could not enqueue job %s", job_id)
        job_fail(job_id=job_id, code="service_busy", message="Our servers are busy. Please try again in a minute.")


def job_finalize(*, job_id: uuid.UUID, result: JobResult) -> bool:
    """Record the GPU tier's result. Returns False when the job was already final (nothing changes)."""
    if result.status is JobStatus.SUCCEEDED:
        updated = GenerationJob.objects.filter(pk=job_id, status__in=_OPEN_STATUSES).update(
            status=GenerationJob.Status.SUCCEEDED,
            result=result.to_dict(),
            error_code="",
            error_message="",
            finished_at=timezone.now(),
        )
        return bool(updated)
    assert result.error is not None
    return job_fail(job_id=job_id, code=result.error.code.value, message=result.error.message, result=result)


def job_attach_offers(*, job_id: uuid.UUID, result: JobResult) -> None:
    """Offers for each recommended item (shop decides where from). Never blocks the result."""
    from shop.services import job_offers_attach

    job = GenerationJob.objects.filter(pk=job_id, status__in=_OPEN_STATUSES).first()
    if job is None:
        return
    job.result = result.to_dict()  # in memory only: job_finalize writes it
    try:
        job_offers_attach(job=job)
    except Exception:
        logger.exception("could not attach offers to job %s", job_id)


def job_fail(*, job_id: uuid.UUID, code: str, message: str, result: JobResult | None = None) -> bool:
    updated = GenerationJob.objects.filter(pk=job_id, status__in=_OPEN_STATUSES).update(
        status=GenerationJob.Status.FAILED,
        result=result.to_dict() if result else None,
        error_code=code,
        error_message=message,
        finished_at=timezone.now(),
    )
    return bool(updated)


_OPEN_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)


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
def styles_load_demo() -> int:
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
            },
        )
    return len(DEMO_STYLES)
