"""The only module that talks to RQ. Payloads follow gpu_worker.contract; nothing else is shared."""

from __future__ import annotations

import logging

import django_rq
from django.conf import settings
from rq import Queue, Retry
from rq.job import Dependency, Job
from rq.serializers import JSONSerializer

from generation.handlers import handler_for
from gpu_worker.contract import (
    CANCEL_KEY_PREFIX,
    GPU_JOB_FUNCTION,
    PROGRESS_META_KEY,
    ContractError,
    ErrorCode,
    JobResult,
    JobSpec,
    Progress,
)

logger = logging.getLogger(__name__)

FINALIZE_FUNCTION = "generation.tasks.finalize_gpu_job"
GPU_RESULT_TTL = 7 * 24 * 3600


def rq_job_ids(job_id: str, attempt: int = 1) -> tuple[str, str]:
    """(GPU job, finalize job) ids of one attempt. Each attempt has its own: a dead attempt's
    records (and its finalize, when RQ cleans it up later) can never touch the live one."""
    suffix = "" if attempt <= 1 else f"-a{attempt}"
    return f"gpu-{job_id}{suffix}", f"finalize-{job_id}{suffix}"


def gpu_job_enqueue(*, spec: JobSpec, attempt: int = 1) -> None:
    """Queue the GPU work and, behind it, the Django-side finalize.

    The finalize job depends on the GPU job with allow_failure, so RQ runs it whether the
    GPU job returned, raised, or was abandoned by a killed worker: the database always hears.
    """
    contract = handler_for(spec.kind).contract
    gpu_queue = _queue(contract.queue)
    gpu_id, finalize_id = rq_job_ids(spec.job_id, attempt)
    gpu_job = gpu_queue.enqueue(
        GPU_JOB_FUNCTION,
        spec.to_dict(),
        job_id=gpu_id,
        job_timeout=job_timeout_seconds(spec.kind),
        result_ttl=GPU_RESULT_TTL,
        failure_ttl=GPU_RESULT_TTL,
        description=f"{spec.kind} {spec.job_id}",
    )
    django_rq.get_queue("default").enqueue(
        FINALIZE_FUNCTION,
        spec.job_id,
        attempt,
        job_id=finalize_id,
        depends_on=Dependency(jobs=[gpu_job], allow_failure=True),
        job_timeout=120,
        # The database may be restarting: try again for about half an hour before giving up.
        retry=Retry(max=8, interval=[2, 5, 15, 30, 60, 120, 600, 1200]),
        description=f"finalize {spec.job_id}",
    )


def job_timeout_seconds(kind: str) -> int:
    """The workflow's own timeout (its contract's), unless ONTOP_JOB_TIMEOUTS overrides that kind."""
    return settings.JOB_TIMEOUT_OVERRIDES.get(kind, handler_for(kind).contract.timeout_seconds)


def _queue(name: str) -> Queue:
    # Any workflow's queue, named by its contract: the queues need not be listed in settings.
    return Queue(name, connection=django_rq.get_connection("default"), serializer=JSONSerializer)


def queue_worker_count(name: str) -> int:
    """How many workers serve a queue right now (RQ's registry of live workers)."""
    from rq import Worker

    return Worker.count(connection=django_rq.get_connection("default"), queue=_queue(name))


def gpu_job_fetch(rq_job_id: str) -> Job | None:
    from rq.exceptions import NoSuchJobError

    try:
        return Job.fetch(rq_job_id, connection=django_rq.get_connection("default"), serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def gpu_job_progress(rq_job: Job) -> Progress | None:
    # Job.fetch has just loaded the meta: reading it again would be one more Redis round trip
    # on the status poll, which every open progress page makes each second.
    raw = rq_job.meta.get(PROGRESS_META_KEY)
    if raw is None:
        return None
    return Progress.from_dict(raw)


def gpu_job_cancel(*, job_id: str, attempt: int = 1) -> None:
    """Ask the GPU tier to drop the job: taken off the queue if waiting, stopped at its next step if running."""
    connection = django_rq.get_connection("default")
    connection.set(f"{CANCEL_KEY_PREFIX}{job_id}", "1", ex=24 * 3600)
    rq_job = gpu_job_fetch(rq_job_ids(job_id, attempt)[0])
    if rq_job is not None and rq_job.get_status(refresh=False) in ("queued", "deferred", "scheduled"):
        rq_job.cancel(enqueue_dependents=True)


def gpu_job_last_sign_of_life(rq_job: Job) -> float | None:
    """Epoch seconds of the latest progress report, or when the job started; None if not started."""
    progress = gpu_job_progress(rq_job)
    started = rq_job.started_at.timestamp() if rq_job.started_at else None
    if progress is not None and progress.updated_at:
        return max(progress.updated_at, started or 0.0)
    return started


def gpu_attempt_stop(*, job_id: str, attempt: int) -> None:
    """Stop one attempt of a job (not the job): set when an attempt is replaced by the next one."""
    gpu_id = rq_job_ids(job_id, attempt)[0]
    django_rq.get_connection("default").set(f"{CANCEL_KEY_PREFIX}{gpu_id}", "1", ex=24 * 3600)


def gpu_job_outcome(job_id: str, attempt: int = 1) -> JobResult:
    """What became of the GPU job, as a JobResult: returned, raised, timed out, abandoned or expired."""
    rq_job = gpu_job_fetch(rq_job_ids(job_id, attempt)[0])
    if rq_job is None:
        return JobResult.failure(job_id, ErrorCode.WORKER_LOST, "The job's record expired before it finished.")
    if rq_job.is_finished:
        try:
            return JobResult.from_dict(rq_job.return_value())
        except ContractError as exc:
            logger.error("GPU job %s returned a malformed result: %s", job_id, exc)
            return JobResult.failure(job_id, ErrorCode.INTERNAL, "The GPU worker returned a result we could not read.")
    if rq_job.is_canceled:  # taken off the queue by a cancel before any worker ran it
        return JobResult.failure(job_id, ErrorCode.CANCELLED, "The job was cancelled before it started.")
    latest = rq_job.latest_result()
    detail = (latest.exc_string or "") if latest is not None else ""
    if "JobTimeoutException" in detail:
        return JobResult.failure(job_id, ErrorCode.TIMEOUT, "The job took too long.")
    # A worker that died (killed: abandoned; shut down cold mid-job: SystemExit, or RQ's
    # ShutDownImminentException) lost the job; a resumable kind then starts its next attempt.
    if any(name in detail for name in ("AbandonedJobError", "SystemExit", "ShutDownImminentException")):
        return JobResult.failure(job_id, ErrorCode.WORKER_LOST, "The GPU worker stopped during the job.")
    logger.error("GPU job %s failed: %s", job_id, detail[-2000:])
    return JobResult.failure(job_id, ErrorCode.INTERNAL, "Something went wrong while making your picture.")
