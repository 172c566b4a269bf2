"""Writes. Every state change of a job happens here, once, and is safe to run twice."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import RedisError

from generation import dispatch, media
from generation.handlers import handler_for
from generation.images import ImageRejected, normalise_photo
from generation.models import DeletedUsage, GenerationJob, LoraStatus, Showcase, Style, Upload
from gpu_worker.contract import (
    HEARTBEAT_TIMEOUT_SECONDS,
    PHOTO_CACHE_ROOT,
    ContractError,
    ErrorCode,
    JobResult,
    JobSpec,
    JobStatus,
    LoraSpec,
    StyleSpec,
    TaskRef,
    photo_cache_prefix,
)
from gpu_worker.contract import desk_makeover as desk_makeover_contract
from gpu_worker.contract import lora_check as lora_check_contract
from ontop.events import job_event_publish
from ontop.metrics import job_outcome_record

logger = logging.getLogger(__name__)

# The GPU tier enqueues this (by name, on "default") when it starts a job: the database hears "running".
JOB_STARTED_FUNCTION = "generation.tasks.gpu_job_started"


def upload_create(*, owner, file: File) -> Upload:
    """Store a normalised copy of the photo. Raises ImageRejected with a person-readable message."""
    max_bytes = settings.UPLOAD_MAX_BYTES
    if file.size is not None and file.size > max_bytes:
        raise ImageRejected.too_large(max_bytes)
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


def upload_discard(*, upload: Upload) -> bool:
    """A photo stored for a request that then made nothing (over quota, or the same submission won
    by another request): its row and file go, unless a job or a studio photo took it meanwhile.
    Returns whether it was deleted."""
    key = upload.image.name
    with transaction.atomic():
        # FOR UPDATE conflicts with the key-share lock PostgreSQL takes for a job row being inserted
        # with this upload: we wait for that insert's commit and then see the job below, instead of
        # deleting the upload and, by CASCADE, the job made with it.
        if not Upload.objects.select_for_update().filter(pk=upload.pk).exists():
            return False
        if GenerationJob.objects.filter(upload=upload).exists() or _studio_photo_uses(upload):
            return False
        deleted = Upload.objects.filter(pk=upload.pk).delete()[0]
    if deleted and key:
        _upload_files_delete(key)
    return bool(deleted)


def _upload_files_delete(key: str) -> None:
    """A stored photo and everything the GPU tier derived from it (its perception cache)."""
    default_storage.delete(key)
    for derived in list(_stored_files(default_storage, photo_cache_prefix(key).rstrip("/"))):
        default_storage.delete(derived)
    _empty_directories_remove(photo_cache_prefix(key))


def _studio_photo_uses(upload: Upload) -> bool:
    return Upload.objects.filter(pk=upload.pk, studio_photo__isnull=False).exists()


class QuotaExceeded(Exception):
    """The product's daily quota is spent. Each product words it in the reader's language."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"daily quota of {limit} spent")
        self.limit = limit


def job_create(
    *,
    owner,
    kind: str,
    params: Any,
    inputs: dict[str, str | list[str]] | None = None,
    upload: Upload | None = None,
    style: Style | None = None,
    submission_id: uuid.UUID | None = None,
) -> GenerationJob:
    """Create the job row and enqueue it after the transaction commits (never a job for a rolled-back row).

    `params` is the workflow's typed params (its contract's dataclass). The same submission_id twice
    returns the first job. The daily quota of the job's product is checked under a lock on the user's
    row, so two simultaneous submissions cannot both squeeze past it.
    """
    contract = handler_for(kind).contract
    params_json = contract.encode_params(params)  # a wrong type is a programming error: it raises
    inputs = dict(inputs or {})
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        if submission_id is not None:
            existing = GenerationJob.objects.filter(owner=owner, submission_id=submission_id).first()
            if existing is not None and existing.kind == kind:
                return existing
            if existing is not None:  # a key a client reused for another product: not this request's
                logger.warning("submission id %s reused across job kinds; ignored", submission_id)
                submission_id = None
        quota = quota_of(owner=owner, kind=kind)
        if quota.limit is not None and quota.remaining <= 0:
            raise QuotaExceeded(quota.limit)
        job = GenerationJob(owner=owner, upload=upload, kind=kind, style=style, submission_id=submission_id)
        spec = JobSpec(
            job_id=str(job.id),
            kind=kind,
            inputs=inputs,
            output_prefix=job.output_prefix,
            params=params_json,
            on_start=TaskRef(queue="default", function=JOB_STARTED_FUNCTION),
        )
        job.spec = spec.to_dict()
        job.save()
        transaction.on_commit(lambda: job_dispatch(job_id=job.id))
    return job


# Failures another run of the same job may not repeat: the machine, not the job, was at fault. Any
# other code (not a desk, a LoRA that does not fit, a bad photo, a missing input, a workflow's own
# codes) fails the same way again.
RETRYABLE_ERROR_CODES = frozenset(
    {
        ErrorCode.INTERNAL,
        ErrorCode.WORKER_LOST,
        ErrorCode.TIMEOUT,
        ErrorCode.OUT_OF_MEMORY,
        ErrorCode.UNSUPPORTED_JOB,
        "service_busy",
    }
)


class JobNotRetryable(Exception):
    """`reason`: "open" (still queued or running) or "permanent" (it would fail the same way)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def job_retry(*, job: GenerationJob) -> GenerationJob:
    """A new job with the same photo, params (seed included) and style snapshot. Refused
    (JobNotRetryable) for a job still open, and for a failure that would only repeat itself."""
    if job.status in _OPEN_STATUSES:
        raise JobNotRetryable("open")
    if job.status == GenerationJob.Status.FAILED and job.error_code not in RETRYABLE_ERROR_CODES:
        raise JobNotRetryable("permanent")
    spec = JobSpec.from_dict(job.spec)
    params = handler_for(job.kind).contract.decode_params(spec.params)
    return job_create(
        owner=job.owner, kind=job.kind, params=params, inputs=spec.inputs, upload=job.upload, style=job.style
    )


def style_spec(style: Style | None) -> StyleSpec | None:
    """What the style says now, for a job's params: editing it later never changes that job."""
    if style is None:
        return None
    prompt = ", ".join(p for p in (style.trigger_words, style.prompt_addition) if p)
    lora = None
    if style.lora_file and style.lora_sha256:
        lora = LoraSpec(key=style.lora_file.name, sha256=style.lora_sha256, weight=style.lora_weight)
    return StyleSpec(
        slug=style.slug,
        prompt_addition=prompt,
        negative_prompt_addition=style.negative_prompt_addition,
        steps=style.steps,
        guidance=style.guidance,
        strength=style.strength,
        lora=lora,
    )


def new_seed() -> int:
    # Chosen by the web tier so the database knows it before the GPU does: a "new variation" is a new seed.
    return secrets.randbelow(2**31)


@dataclass(frozen=True)
class Quota:
    limit: int | None  # None: this kind has no daily limit of its own
    used: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used) if self.limit is not None else 1_000_000


def quota_of(*, owner, kind: str) -> Quota:
    """Pictures of one product started today (Asia/Seoul). Failed and cancelled ones do not count:
    not the person's fault."""
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today, time.min))
    todays = GenerationJob.objects.filter(owner=owner, kind=kind, created_at__gte=start)
    counted = Q(status__in=_COUNTED_STATUSES)
    if handler_for(kind).cancel_counts_once_started:
        # Cancelling a training at 90 % must not give it back: "train, look, cancel" would be
        # unlimited GPU time. One cancelled while still queued costs nothing.
        counted |= Q(status=GenerationJob.Status.CANCELLED, started_at__isnull=False)
    used = todays.filter(counted).count()
    deleted = DeletedUsage.objects.filter(owner=owner, kind=kind, day=today).values_list("count", flat=True).first()
    limit = handler_for(kind).daily_limit()
    return Quota(limit=limit, used=used + (deleted or 0), resets_at=start + timedelta(days=1))


def job_cancel(*, job: GenerationJob) -> bool:
    """Stop a queued or running job. Returns False when it had already finished."""
    updated = GenerationJob.objects.filter(pk=job.pk, status__in=_OPEN_STATUSES).update(
        status=GenerationJob.Status.CANCELLED,
        error_code="cancelled",
        error_message="",
        finished_at=timezone.now(),
    )
    if updated:
        job_event_publish(job_id=job.pk)
        transaction.on_commit(lambda: job_outcome_record(kind=job.kind, status="cancelled"))
        # The attempt now, not the caller's copy: a resume may have started another one meanwhile.
        attempt = GenerationJob.objects.filter(pk=job.pk).values_list("attempts", flat=True).first() or job.attempts
        try:
            dispatch.gpu_job_cancel(job_id=str(job.id), attempt=attempt)
        except RedisError:
            logger.exception("could not signal cancellation of job %s", job.id)
    return bool(updated)


def job_delete(*, job: GenerationJob) -> None:
    """Delete a job with its files; its photo goes too when no other job uses it."""
    job_cancel(job=job)
    handler_for(job.kind, strict=False).on_delete(job=job)
    # Everything under the job's prefix: outputs, the thumbnail, and files a failed result never listed.
    keys = list(_stored_files(default_storage, job.output_prefix.rstrip("/")))
    upload = job.upload
    with transaction.atomic():
        job.refresh_from_db(fields=["status", "started_at"])
        made_on = timezone.localdate(job.created_at)
        counted = job.status in _COUNTED_STATUSES or (
            job.status == GenerationJob.Status.CANCELLED
            and job.started_at is not None
            and handler_for(job.kind, strict=False).cancel_counts_once_started
        )
        if counted and made_on == timezone.localdate():
            # Deleting must not give the picture back: "make, delete, repeat" would be unlimited GPU work.
            usage, _ = DeletedUsage.objects.select_for_update().get_or_create(
                owner_id=job.owner_id, kind=job.kind, day=made_on
            )
            DeletedUsage.objects.filter(pk=usage.pk).update(count=F("count") + 1)
        job.delete()
        orphan = upload is not None and not upload.jobs.exists()
        if orphan:
            upload.delete()
    for key in keys:
        default_storage.delete(key)
    _empty_directories_remove(job.output_prefix)
    if orphan:
        _upload_files_delete(upload.image.name)


def style_lora_accept(*, style: Style, sha256: str, by=None) -> GenerationJob | None:
    """A new LoRA file is stored (its file checks passed; `sha256` is its hash), or the LoRA was
    removed (`sha256` ""). A new file is used by no job, and its style is not live, until a GPU
    worker has loaded it into the base model (`style_lora_check_start`, started here by `by`)."""
    if not sha256:
        Style.objects.filter(pk=style.pk).update(
            lora_sha256="", lora_status=LoraStatus.UNCHECKED, lora_message="", lora_check_job=None
        )
        return None
    if by is None:
        raise ValueError("a new LoRA is checked by a job, which needs the staff member who uploaded it (by=)")
    Style.objects.filter(pk=style.pk).update(lora_sha256="", is_active=False)
    style.lora_sha256, style.is_active = "", False
    return style_lora_check_start(style=style, by=by, sha256=sha256)


class NoLora(Exception):
    """The style has no LoRA file (or its file is missing from storage): nothing to check."""


def style_lora_check_start(*, style: Style, by, sha256: str | None = None) -> GenerationJob:
    """Start a `lora_check` job: a GPU worker loads the style's LoRA into the base model's pipelines
    (`style_lora_check_record` takes its answer). `by`, a staff member, owns the job. A style whose
    LoRA had passed stays live meanwhile, and goes off only if the answer is no (the base model may
    have been replaced since)."""
    if not style.lora_file or not default_storage.exists(style.lora_file.name):
        raise NoLora
    key = style.lora_file.name
    if sha256 is None:
        sha256 = _stored_sha256(key)
    params = lora_check_contract.LoraCheckParams(lora=LoraSpec(key=key, sha256=sha256, weight=style.lora_weight))
    with transaction.atomic():
        job = job_create(owner=by, kind=lora_check_contract.KIND, params=params)
        Style.objects.filter(pk=style.pk).update(lora_check_job=job, lora_status=LoraStatus.CHECKING, lora_message="")
    style.lora_check_job, style.lora_status, style.lora_message = job, LoraStatus.CHECKING, ""
    return job


def style_lora_check_record(*, job: GenerationJob, result: lora_check_contract.LoraCheckResult) -> bool:
    """The check's answer (its handler). A LoRA that fits is pinned by its hash, for jobs to use, and
    the style may go live; one that does not is rejected with the worker's reason and the style goes
    off. Only the style's latest check of its current file counts. Returns whether a style changed."""
    params = handler_for(job.kind).contract.decode_params(JobSpec.from_dict(job.spec).params)
    with transaction.atomic():
        style = Style.objects.select_for_update().filter(lora_check_job_id=job.pk).first()
        if style is None or style.lora_file.name != params.lora.key:
            return False
        if result.fits:
            fields = {"lora_status": LoraStatus.READY, "lora_message": "", "lora_sha256": params.lora.sha256}
        else:
            fields = {"lora_status": LoraStatus.REJECTED, "lora_message": result.reason, "lora_sha256": ""}
            fields["is_active"] = False
        Style.objects.filter(pk=style.pk).update(**fields)
    return True


def _stored_sha256(key: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(key, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def upload_delete(*, upload: Upload) -> None:
    """Delete a photo with every job made from it, and all their files (job_delete)."""
    for job in list(upload.jobs.all()):
        job_delete(job=job)
    key = upload.image.name
    if Upload.objects.filter(pk=upload.pk).delete()[0] and key:
        _upload_files_delete(key)


class ShowcaseJobRefused(Exception):
    """`reason`: "not_a_makeover", "not_succeeded", "not_staff" or "pictures_missing"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def showcase_job_refusal(*, job: GenerationJob) -> str | None:
    """Why a job's pictures cannot go on the public home page (None: they can). Only a staff
    account's own succeeded desk makeover: a customer's photo of their home is theirs, and an
    admin's choice is not their consent."""
    if job.kind != desk_makeover_contract.KIND:
        return "not_a_makeover"
    if job.status != GenerationJob.Status.SUCCEEDED:
        return "not_succeeded"
    if not job.owner.is_staff:
        return "not_staff"
    if not all(key and default_storage.exists(key) for key in _showcase_keys(job)):
        return "pictures_missing"
    return None


def _showcase_keys(job: GenerationJob) -> tuple[str, str]:
    """(before, after): the makeover's photo and its result."""
    try:
        after = JobResult.from_dict(job.result).output("result") if job.result else None
    except ContractError:
        after = None
    return (job.upload.image.name if job.upload else "", after.key if after is not None else "")


def showcase_pictures_from_job(*, showcase: Showcase, job: GenerationJob) -> None:
    """Copy a makeover's photo and result into the showcase (saved with it by the caller). Copies,
    not references: deleting the makeover later leaves the home page whole."""
    refusal = showcase_job_refusal(job=job)
    if refusal:
        raise ShowcaseJobRefused(refusal)
    before_key, after_key = _showcase_keys(job)
    replaced = [name for name in (showcase.before_image.name, showcase.after_image.name) if name]
    for field, key in ((showcase.before_image, before_key), (showcase.after_image, after_key)):
        with default_storage.open(key, "rb") as handle:
            field.save(f"{uuid.uuid4().hex}{Path(key).suffix.lower()}", File(handle), save=False)
    showcase.job = job
    transaction.on_commit(lambda: [default_storage.delete(name) for name in replaced])


def showcase_delete(*, showcase: Showcase) -> None:
    """Delete a showcase and its pictures (copies of its own, never a job's files)."""
    names = [name for name in (showcase.before_image.name, showcase.after_image.name) if name]
    names += [media.public_preview_key(name) for name in names]
    showcase.delete()
    transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


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
        if updated:
            job_event_publish(job_id=job_id)
            _job_outcome_count(job_id=job_id, status="succeeded")
        return bool(updated)
    assert result.error is not None
    if result.error.code == ErrorCode.CANCELLED:
        updated = GenerationJob.objects.filter(pk=job_id, status__in=_OPEN_STATUSES).update(
            status=GenerationJob.Status.CANCELLED, error_code="cancelled", finished_at=timezone.now()
        )
        if updated:
            job_event_publish(job_id=job_id)
            _job_outcome_count(job_id=job_id, status="cancelled")
        return bool(updated)
    return job_fail(job_id=job_id, code=result.error.code, message=result.error.message, result=result)


def job_finalize_from_queue(*, job_id: uuid.UUID, attempt: int = 1) -> tuple[JobResult, bool]:
    """Read the GPU tier's outcome and record it. On success the product's handler runs first
    (the makeover finds deals), so a person who sees "succeeded" sees everything. A worker lost
    under a resumable job starts its next attempt instead of failing it."""
    job = GenerationJob.objects.filter(pk=job_id).first()
    result = dispatch.gpu_job_outcome(str(job_id), attempt)
    if job is not None and job.attempts != attempt:
        return result, False  # an earlier attempt, already replaced by a later one
    if job is not None and result.status is JobStatus.SUCCEEDED:
        # Under the job's row lock: a cancel that arrives while the handler runs waits, then finds
        # the job finished; a cancel that came first is seen here and the handler does not run.
        with transaction.atomic():
            locked = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
            if locked is not None:
                result = _job_on_success(job=locked, result=result)
            changed = job_finalize(job_id=job_id, result=result)
    else:
        lost = job is not None and result.error is not None and result.error.code == ErrorCode.WORKER_LOST
        if lost and job_lost(job=job, message=result.error.message):
            return result, True
        changed = job_finalize(job_id=job_id, result=result)
    if job is not None and GenerationJob.objects.filter(pk=job_id, status__in=_UNSUCCESSFUL_STATUSES).exists():
        # The GPU has stopped now: whatever it wrote before it failed or noticed the cancel (a
        # training's checkpoints and previews, made from people's photos) goes.
        _job_files_delete(job=job)
    return result, changed


def _job_files_delete(*, job: GenerationJob) -> None:
    for key in list(_stored_files(default_storage, job.output_prefix.rstrip("/"))):
        default_storage.delete(key)
    _empty_directories_remove(job.output_prefix)


def _empty_directories_remove(prefix: str) -> None:
    """A local media directory keeps no empty folders named after deleted jobs (object storage has
    no folders)."""
    try:
        root = Path(default_storage.path(prefix.rstrip("/")))
    except NotImplementedError:  # every backend has path(); object storage's raises
        return
    if not root.is_dir():
        return
    deepest_first = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for directory in [*deepest_first, root]:
        with contextlib.suppress(OSError):  # not empty: something else lives there
            directory.rmdir()


def job_lost(*, job: GenerationJob, message: str) -> bool:
    """The job's GPU worker died. A resumable kind with attempts left is enqueued again (same id
    and output prefix, so it resumes from its checkpoints); any other job fails as worker_lost.
    Returns whether the job's row changed."""
    handler = handler_for(job.kind, strict=False)
    if job.attempts < handler.max_attempts:
        return job_resume(job=job)
    return job_fail(job_id=job.id, code=ErrorCode.WORKER_LOST, message=message)


def job_resume(*, job: GenerationJob) -> bool:
    """Start the next attempt of an open job. Guarded by the attempt number: two sweeps, or a
    sweep and a finalize, cannot both start one."""
    attempt = job.attempts + 1
    queued_at = timezone.now()
    updated = GenerationJob.objects.filter(pk=job.pk, status__in=_OPEN_STATUSES, attempts=job.attempts).update(
        attempts=attempt, status=GenerationJob.Status.QUEUED, attempt_queued_at=queued_at
    )
    if not updated:
        return False
    job_event_publish(job_id=job.pk)
    logger.warning("job %s lost its worker; starting attempt %d", job.id, attempt)
    try:
        # Should the lost attempt still be running after all (a stalled GPU), it stops at its next
        # step instead of writing into the same prefix as the new one.
        dispatch.gpu_attempt_stop(job_id=str(job.id), attempt=job.attempts)
        dispatch.gpu_job_enqueue(spec=JobSpec.from_dict(job.spec), attempt=attempt)
    except RedisError:
        logger.exception("could not enqueue attempt %d of job %s", attempt, job.id)
        job_fail(job_id=job.id, code="service_busy", message="Our servers are busy. Please try again in a minute.")
    job.attempts, job.attempt_queued_at = attempt, queued_at
    return True


def _job_on_success(*, job: GenerationJob, result: JobResult) -> JobResult:
    """Decode the workflow's typed result and let its handler react. A result that does not match
    the contract fails the job; a handler's own error never does (it is logged)."""
    handler = handler_for(job.kind, strict=False)
    if handler.contract is None:
        message = "No app handles this kind of job any more."
        return JobResult.failure(result.job_id, ErrorCode.UNSUPPORTED_JOB, message)
    try:
        typed = handler.contract.decode_result(result.data)
    except ContractError as exc:
        logger.error("job %s returned a %s result that does not match the contract: %s", job.id, job.kind, exc)
        return JobResult.failure(
            result.job_id, ErrorCode.INTERNAL, "The GPU worker returned a result we could not read."
        )
    if job.status not in _OPEN_STATUSES:
        return result
    job.result = result.to_dict()  # in memory only: job_finalize writes it
    try:
        with transaction.atomic():  # a database error in the handler must not abort the finalize
            handler.on_success(job=job, result=typed)
    except Exception:
        logger.exception("the %s handler failed on job %s", job.kind, job.id)
    return result


def job_mark_running(*, job_id: uuid.UUID) -> bool:
    updated = GenerationJob.objects.filter(pk=job_id, status=GenerationJob.Status.QUEUED).update(
        status=GenerationJob.Status.RUNNING, started_at=timezone.now()
    )
    if updated:
        job_event_publish(job_id=job_id)
    return bool(updated)


# A job nobody has picked up in this long is failed rather than left waiting forever.
QUEUE_DEADLINE = timedelta(hours=2)
# After the GPU is done, finalize normally takes seconds; past this the sweeper finalizes itself.
FINALIZE_GRACE = timedelta(minutes=5)
ORPHAN_MIN_AGE = timedelta(hours=1)


def jobs_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Fail open jobs whose GPU worker died (no sign of life), whose record vanished, or that waited
    past the deadline; finalize the ones whose finalize step never ran. Safe to run any time."""
    now = now or timezone.now()
    counts = {"worker_lost": 0, "timeout": 0, "finalized": 0}
    open_jobs = GenerationJob.objects.filter(status__in=_OPEN_STATUSES).order_by("created_at")[:500]
    for job in open_jobs:
        try:
            _job_sweep(job=job, now=now, counts=counts)
        except Exception:  # one bad row must not stop the sweep of every other job, run after run
            logger.exception("could not sweep job %s", job.id)
    return counts


# How long past its workflow's timeout a job that still heartbeats may run before the sweep stops it.
HUNG_JOB_GRACE = timedelta(minutes=2)


def _running_past_its_limit(rq_job, *, kind: str, now: datetime) -> bool:
    started = rq_job.started_at
    if started is None:
        return False
    if timezone.is_naive(started):
        started = started.replace(tzinfo=UTC)
    return now - started > timedelta(seconds=dispatch.job_timeout_seconds(kind)) + HUNG_JOB_GRACE


def gpu_worker_lost(*, worker_name: str) -> int:
    """A supervisor saw the GPU worker process `worker_name` die: the jobs it was running are lost
    now, without waiting for their heartbeat to go silent. Each one fails as worker_lost, or a
    resumable one starts its next attempt (only if that attempt is still the job's current one).
    Returns how many jobs changed."""
    changed = 0
    for job_id, attempt in dispatch.gpu_jobs_of_worker(worker_name):
        job = GenerationJob.objects.filter(pk=job_id, status__in=_OPEN_STATUSES, attempts=attempt).first()
        lost = "The GPU worker stopped while making your picture. Please try again."
        if job is not None and job_lost(job=job, message=lost):
            logger.warning("job %s lost its GPU worker %s", job.id, worker_name)
            changed += 1
    return changed


def _job_sweep(*, job: GenerationJob, now: datetime, counts: dict[str, int]) -> None:
    """One open job: counts what was done to it in `counts`."""
    rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
    age = now - (job.attempt_queued_at or job.created_at)  # of this attempt
    if rq_job is None:
        if age > FINALIZE_GRACE and job_lost(job=job, message="We lost track of this picture. Please try again."):
            counts["worker_lost"] += 1
        return
    state = rq_job.get_status(refresh=False)
    if state in ("finished", "failed", "canceled", "stopped"):
        ended = rq_job.ended_at or rq_job.started_at
        if ended is not None and timezone.is_naive(ended):
            ended = ended.replace(tzinfo=UTC)
        if ended is None or now - ended > FINALIZE_GRACE:
            job_finalize_from_queue(job_id=job.id, attempt=job.attempts)
            counts["finalized"] += 1
    elif state == "started":
        alive = dispatch.gpu_job_last_sign_of_life(rq_job)
        silent = alive is not None and now.timestamp() - alive > HEARTBEAT_TIMEOUT_SECONDS
        lost = "The GPU worker stopped while making your picture. Please try again."
        if silent:
            if job_lost(job=job, message=lost):
                counts["worker_lost"] += 1
        elif _running_past_its_limit(rq_job, kind=job.kind, now=now):
            # The heartbeat thread says "alive" even while the job's own thread is stuck in native
            # code (a CUDA hang) that RQ's timeout (SIGALRM) cannot interrupt: the job's time limit,
            # plus a grace, decides instead.
            if job_fail(job_id=job.id, code="timeout", message="This took too long. Please try again."):
                counts["timeout"] += 1
            dispatch.gpu_job_cancel(job_id=str(job.id), attempt=job.attempts)
    elif age > max(QUEUE_DEADLINE, timedelta(seconds=3 * dispatch.job_timeout_seconds(job.kind))):
        # Long jobs (training) wait behind long jobs: their deadline grows with their timeout.
        if job_fail(job_id=job.id, code="timeout", message="Our servers were too busy. Please try again."):
            counts["timeout"] += 1
        dispatch.gpu_job_cancel(job_id=str(job.id), attempt=job.attempts)


# A photo stored with a form that had a mistake in it is kept for the person to fix the form; one
# that no job (or studio photo) ever used is deleted after this long.
UNUSED_UPLOAD_HOURS = 24


def unused_uploads_sweep(*, now: datetime | None = None) -> int:
    """Delete uploads nothing ever used (an abandoned form), with their files."""
    now = now or timezone.now()
    # Every row that can point to an upload: a job (its photo), a studio photo (a subject's photo,
    # which checks and trainings read by key). A job's or subject's own lifecycle deletes its photo.
    unused = Upload.objects.filter(
        created_at__lt=now - timedelta(hours=UNUSED_UPLOAD_HOURS), jobs__isnull=True, studio_photo__isnull=True
    )
    # Never a file an open job still reads (a training's photos are named in its spec, not by a key).
    open_inputs = _open_job_input_keys()
    removed = 0
    for upload in unused.order_by("created_at")[:500]:
        if upload.image.name in open_inputs:
            continue
        removed += upload_discard(upload=upload)
    return removed


def _open_job_input_keys() -> set[str]:
    keys: set[str] = set()
    for spec in GenerationJob.objects.filter(status__in=_OPEN_STATUSES).values_list("spec", flat=True):
        for value in ((spec or {}).get("inputs") or {}).values():
            keys.update(value if isinstance(value, list) else [value])
    return keys


def orphaned_files_sweep(*, now: datetime | None = None) -> int:
    """Delete stored files that no row points to any more (e.g. a crash between save and commit)."""
    from django.core.files.storage import default_storage

    now = now or timezone.now()
    removed = 0
    known_uploads = set(Upload.objects.values_list("image", flat=True))
    job_ids = {str(pk) for pk in GenerationJob.objects.values_list("id", flat=True)}
    for key in _stored_files(default_storage, "uploads"):
        if key not in known_uploads and _old_enough(default_storage, key, now):
            default_storage.delete(key)
            removed += 1
    for key in _stored_files(default_storage, "results"):
        parts = key.split("/")
        if len(parts) >= 4 and parts[2] not in job_ids and _old_enough(default_storage, key, now):
            default_storage.delete(key)
            removed += 1
    # What the GPU tier derived from a photo goes with the photo (and a cache from before caches
    # were kept per photo, not under a photo's prefix, is nobody's any more).
    known_prefixes = {photo_cache_prefix(key) for key in known_uploads if key}
    for key in _stored_files(default_storage, PHOTO_CACHE_ROOT):
        owner_prefix = "/".join(key.split("/")[:3]) + "/"  # cache/perception/<photo hash>/
        if owner_prefix not in known_prefixes and _old_enough(default_storage, key, now):
            default_storage.delete(key)
            removed += 1
    return removed


def _stored_files(storage, prefix: str):
    try:
        directories, files = storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        yield f"{prefix}/{name}"
    for directory in directories:
        yield from _stored_files(storage, f"{prefix}/{directory}")


def _old_enough(storage, key: str, now: datetime) -> bool:
    try:
        return now - storage.get_modified_time(key) > ORPHAN_MIN_AGE
    except (FileNotFoundError, NotImplementedError):
        return False


def job_fail(*, job_id: uuid.UUID, code: str, message: str, result: JobResult | None = None) -> bool:
    """Fail an open job. A failed job keeps no files: nothing of it is shown, and what a failed
    training left (checkpoints, previews) is still made from someone's photos."""
    updated = GenerationJob.objects.filter(pk=job_id, status__in=_OPEN_STATUSES).update(
        status=GenerationJob.Status.FAILED,
        result=result.to_dict() if result else None,
        error_code=code,
        error_message=message,
        finished_at=timezone.now(),
    )
    if updated:
        job_event_publish(job_id=job_id)
        job = GenerationJob.objects.filter(pk=job_id).only("id", "owner_id", "kind").first()
        if job is not None:
            transaction.on_commit(lambda: job_outcome_record(kind=job.kind, status="failed", error_code=code))
            transaction.on_commit(lambda: _job_files_delete(job=job))
    return bool(updated)


def _job_outcome_count(*, job_id: uuid.UUID, status: str) -> None:
    """Prometheus's jobs-finished counter (ontop/metrics.py), once per job that changed state, and
    only once the change is committed (a finalize that rolls back counts nothing)."""
    kind = GenerationJob.objects.filter(pk=job_id).values_list("kind", flat=True).first()
    if kind is not None:
        transaction.on_commit(lambda: job_outcome_record(kind=kind, status=status))


_OPEN_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)
_UNSUCCESSFUL_STATUSES = (GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED)
# What counts towards the daily quota: failed and cancelled pictures are not the person's fault.
_COUNTED_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING, GenerationJob.Status.SUCCEEDED)
