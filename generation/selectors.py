"""Reads. Everything is scoped to an owner: nobody can read what is not theirs."""

from __future__ import annotations

import contextlib
import logging
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from generation import dispatch
from generation.handlers import GENERIC_ERROR_MESSAGES, handler_for
from generation.models import GenerationJob, Showcase, Style
from gpu_worker.contract import ContractError, ErrorCode, JobResult, JobSpec

logger = logging.getLogger(__name__)


GENERIC_STAGE_LABELS = {
    "queued": _("Waiting in line"),
    "starting": _("Starting"),
    "done": _("Done"),
    "failed": _("Something went wrong"),
    "cancelled": _("Cancelled"),
    "unknown": _("Checking status…"),
}


def stage_label(kind: str, stage: str, step: int = 0, total: int = 0) -> str:
    """The stage in the words the progress page shows (translated), from the workflow's handler."""
    handler = handler_for(kind, strict=False)
    if stage == handler.finishing_stage:
        return str(handler.finishing_label)
    if total:
        with_steps = handler.painting_label(stage, step, total)
        if with_steps:
            return str(with_steps)
    label = handler.stage_labels().get(stage) or GENERIC_STAGE_LABELS.get(stage)
    return str(label) if label else ""


def job_error_message(job: GenerationJob) -> str:
    """The failure in the reader's language: messages are looked up by code when they are shown."""
    if not job.error_code:
        return ""
    handler = handler_for(job.kind, strict=False)
    message = handler.error_messages().get(job.error_code) or GENERIC_ERROR_MESSAGES.get(job.error_code)
    return str(message) if message else str(GENERIC_ERROR_MESSAGES[ErrorCode.INTERNAL])


def showcases() -> QuerySet[Showcase]:
    return Showcase.objects.filter(is_active=True)


def styles_active(*, kind: str | None = None) -> QuerySet[Style]:
    """Active styles; with `kind`, those whose scopes include that product (no scopes: every product)."""
    styles = Style.objects.filter(is_active=True)
    return styles.filter(Q(scopes__contains=[kind]) | Q(scopes=[])) if kind else styles


def jobs_of(*, owner, kind: str | None = None) -> QuerySet[GenerationJob]:
    jobs = GenerationJob.objects.filter(owner=owner).select_related("upload", "style")
    return jobs.filter(kind=kind) if kind else jobs


def job_get(*, owner, job_id, kind: str | None = None) -> GenerationJob:
    return get_object_or_404(jobs_of(owner=owner, kind=kind), pk=job_id)


def job_spec(*, job: GenerationJob) -> JobSpec:
    """The stored spec, checked against the contract (a job's spec is written by job_create)."""
    return JobSpec.from_dict(job.spec)


def job_params(*, job: GenerationJob) -> Any:
    """The job's params as its workflow's typed dataclass."""
    return handler_for(job.kind).contract.decode_params(job_spec(job=job).params)


def job_result_envelope(*, job: GenerationJob) -> JobResult | None:
    """The stored GPU result, or None when there is none or it cannot be read (logged, never a 500)."""
    if not job.result:
        return None
    try:
        return JobResult.from_dict(job.result)
    except ContractError as exc:
        logger.error("job %s has a stored result this contract cannot read: %s", job.id, exc)
        return None


def job_result(*, job: GenerationJob) -> Any | None:
    """A succeeded job's typed result (its workflow's dataclass), or None."""
    envelope = job_result_envelope(job=job) if job.status == GenerationJob.Status.SUCCEEDED else None
    contract = handler_for(job.kind, strict=False).contract
    if envelope is None or contract is None:
        return None
    try:
        return contract.decode_result(envelope.data)
    except ContractError as exc:
        logger.error("job %s has a %s result this contract cannot read: %s", job.id, job.kind, exc)
        return None


@dataclass(frozen=True)
class JobState:
    status: str
    status_label: str
    stage: str
    stage_label: str
    percent: float
    step: int
    total_steps: int
    queue_position: int | None
    eta_seconds: int | None
    error_code: str
    error_message: str
    # Training reports these: the current loss, and whether a checkpoint preview can be shown
    # (at `generation:job_progress_preview`, the newest one).
    loss: float | None = None
    has_preview: bool = False
    attempt: int = 1


def job_state(*, job: GenerationJob) -> JobState:
    """Database status, enriched with live progress from Redis while the job is open (or the state
    `job_states_preload` read for the job's whole list)."""
    return job_states(jobs=[job])[0]


def job_states_preload(jobs: Iterable[GenerationJob]) -> None:
    """Read the states of a list's jobs at once and keep each on its job, where `job_state` finds it:
    the rows then cost one Redis round trip together, not one each. For a page about to be shown."""
    jobs = list(jobs)
    for job in jobs:
        job._preloaded_state = None  # read afresh
    unique = list({job.pk: job for job in jobs}.values())
    states = dict(zip((job.pk for job in unique), job_states(jobs=unique), strict=True))
    for job in jobs:
        job._preloaded_state = states[job.pk]


def job_states(*, jobs: Sequence[GenerationJob]) -> list[JobState]:
    """Each job's state, in order (the state `job_states_preload` kept on a job, when it did). Finished
    jobs are the database's alone; the open ones' live state comes from Redis in one round trip for
    the whole list (a page of 20 costs what one job does), and each kind's typical duration is looked
    up once."""
    preloaded = {job.pk: job._preloaded_state for job in jobs if getattr(job, "_preloaded_state", None)}
    live: dict[Any, dispatch.LiveRead] = {}
    unknown = False
    open_jobs = [
        job
        for job in jobs
        if job.pk not in preloaded and not job.is_finished and handler_for(job.kind, strict=False).contract
    ]
    if open_jobs:
        try:
            reads = dispatch.gpu_jobs_read(
                [(job.gpu_rq_job_id, handler_for(job.kind).contract.queue) for job in open_jobs]
            )
            live = {job.pk: read for job, read in zip(open_jobs, reads, strict=True)}
        except RedisError:  # Redis away: the database's status, with "checking status…"
            unknown = True
    typical: dict[str, float | None] = {}
    return [preloaded.get(job.pk) or _job_state(job, live.get(job.pk), typical, unknown=unknown) for job in jobs]


def _job_state(
    job: GenerationJob, read: dispatch.LiveRead | None, typical: dict[str, float | None], *, unknown: bool
) -> JobState:
    stage, percent, step, total, position, eta = "", 0.0, 0, 0, None, None
    loss, has_preview = None, False
    status = job.status

    def typical_seconds() -> float | None:
        if job.kind not in typical:
            typical[job.kind] = typical_job_seconds(job.kind)
        return typical[job.kind]

    if job.is_finished:
        percent = 100.0 if job.status == GenerationJob.Status.SUCCEEDED else 0.0
        stage = "done" if job.status == GenerationJob.Status.SUCCEEDED else job.status
    elif unknown:
        stage = "unknown"
    elif read is not None and read.rq_job is not None:
        rq_job = read.rq_job
        try:
            rq_status = rq_job.get_status(refresh=False)  # just read
            progress = dispatch.gpu_job_progress(rq_job)
            if rq_status in ("finished", "failed"):
                # The GPU is done; the Django-side worker runs the product's handler and records it.
                stage = handler_for(job.kind, strict=False).finishing_stage
                status, percent = GenerationJob.Status.RUNNING, 99.0
            elif progress is not None:
                status = GenerationJob.Status.RUNNING
                stage, percent, step, total = progress.stage, progress.percent, progress.step, progress.total_steps
                if total and step == 0:
                    # Loading the models or the style: percent stands still, so extrapolating
                    # would make the estimate climb. Say "starting" and go by recent jobs.
                    stage = "starting"
                    eta = _eta_from_history(typical_seconds(), started_at=rq_job.started_at)
                elif progress.eta_seconds is not None:  # the worker's own (training knows its rate)
                    eta = max(1, round(progress.eta_seconds))
                else:
                    eta = _eta_seconds(rq_job.started_at, percent) or _eta_from_history(
                        typical_seconds(), started_at=rq_job.started_at
                    )
                loss = None if progress.loss is None else round(progress.loss, 5)
                has_preview = bool(progress.preview_key)
            elif rq_status == "started":  # picked up; no progress reported yet
                status, stage = GenerationJob.Status.RUNNING, "starting"
                eta = _eta_from_history(typical_seconds(), started_at=rq_job.started_at)
            elif rq_status in ("queued", "scheduled", "deferred"):
                # The queue-position convention, on the web and in the API: how many jobs are ahead
                # of yours in its GPU queue (0: yours is next).
                position = max(0, read.ahead) if read.ahead is not None else 0
                stage = "queued"
                eta = _queued_eta(typical_seconds(), position, workers=read.workers)
        except (RedisError, ContractError):  # Redis away, or progress from a worker of another version
            stage = "unknown"
    return JobState(
        status=status,
        status_label=str(GenerationJob.Status(status).label),
        stage=stage,
        stage_label=stage_label(job.kind, stage, step, total),
        percent=round(percent, 1),
        step=step,
        total_steps=total,
        queue_position=position,
        eta_seconds=eta,
        error_code=job.error_code,
        error_message=job_error_message(job),
        loss=loss,
        has_preview=has_preview,
        attempt=job.attempts,
    )


def key_under(key: str, prefix: str) -> bool:
    """Whether a storage key really lies under a prefix ("a/b/../../c" does not lie under "a/b/")."""
    normal = posixpath.normpath(key)
    return normal == key and not normal.startswith(("/", "..")) and normal.startswith(prefix)


def job_progress_preview_key(*, job: GenerationJob) -> str | None:
    """The newest checkpoint preview the running job reported, if it lies under the job's own prefix."""
    if job.is_finished:
        return None
    try:
        rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
        progress = dispatch.gpu_job_progress(rq_job) if rq_job is not None else None
    except (RedisError, ContractError):
        return None
    key = progress.preview_key if progress is not None else ""
    return key if key and key_under(key, job.output_prefix) else None


def _eta_seconds(started_at, percent: float) -> int | None:
    """Time left if the rest goes as fast as what is done (only once there is enough to go on)."""
    if started_at is None or percent < 5:
        return None
    elapsed = _elapsed(started_at)
    return max(1, round(elapsed * (100 - percent) / percent))


def _elapsed(started_at) -> float:
    if timezone.is_naive(started_at):
        started_at = started_at.replace(tzinfo=UTC)
    return (timezone.now() - started_at).total_seconds()


RECENT_JOBS_FOR_ETA = 20


def typical_job_seconds(kind: str) -> float | None:
    """The median run time (start to finish) of the last successful jobs of this kind. Cached for a
    minute: every waiting page asks each second, and the answer moves slowly."""
    key = f"typical-job-seconds:{kind}"
    try:
        cached = cache.get(key)
    except RedisError:
        cached = None
    if cached is not None:
        return cached
    typical = _median_job_seconds(kind)
    if typical is not None:  # "no history yet" is cheap to ask again, and soon wrong
        with contextlib.suppress(RedisError):
            cache.set(key, typical, TYPICAL_JOB_SECONDS_CACHE)
    return typical


TYPICAL_JOB_SECONDS_CACHE = 60


def _median_job_seconds(kind: str) -> float | None:
    recent = (
        GenerationJob.objects.filter(
            kind=kind, status=GenerationJob.Status.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:RECENT_JOBS_FOR_ETA]
    )
    durations = sorted((finished - started).total_seconds() for started, finished in recent)
    if not durations:
        return None
    middle = len(durations) // 2
    return durations[middle] if len(durations) % 2 else (durations[middle - 1] + durations[middle]) / 2


def _eta_from_history(typical: float | None, *, started_at) -> int | None:
    if typical is None:
        return None
    left = typical - (_elapsed(started_at) if started_at is not None else 0)
    return max(1, round(left)) if left > 0 else None


def _queued_eta(typical: float | None, ahead: int, *, workers: int) -> int | None:
    """Waiting time plus run time: the jobs ahead shared among the GPU workers serving the queue,
    each taking as long as recent jobs of this kind, then yours."""
    if typical is None:
        return None
    return max(1, round((ahead // max(1, workers) + 1) * typical))


def job_output_key(*, job: GenerationJob, role: str) -> str | None:
    envelope = job_result_envelope(job=job) if job.status == GenerationJob.Status.SUCCEEDED else None
    output = envelope.output(role) if envelope else None
    return output.key if output else None


def job_output_roles(*, job: GenerationJob) -> list[str]:
    envelope = job_result_envelope(job=job) if job.status == GenerationJob.Status.SUCCEEDED else None
    return [o.role for o in envelope.outputs] if envelope else []
