"""The only module that talks to RQ. Payloads follow gpu_worker.contract; nothing else is shared."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import django_rq
from django.conf import settings
from redis import Redis
from rq import Queue, Retry
from rq.job import Dependency, Job
from rq.serializers import JSONSerializer
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

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


def _connection() -> Redis:
    # django_rq hands out a client on the process's one pool (settings: USE_REDIS_CACHE, ontop/redis_pool.py):
    # no request opens a TCP connection of its own.
    return django_rq.get_connection("default")


def _queue(name: str) -> Queue:
    # Any workflow's queue, named by its contract: the queues need not be listed in settings.
    return Queue(name, connection=_connection(), serializer=JSONSerializer)


def queue_worker_count(name: str) -> int:
    """How many workers serve a queue right now (RQ's registry of live workers)."""
    from rq import Worker

    return Worker.count(connection=_connection(), queue=_queue(name))


def gpu_job_fetch(rq_job_id: str) -> Job | None:
    from rq.exceptions import NoSuchJobError

    try:
        return Job.fetch(rq_job_id, connection=_connection(), serializer=JSONSerializer)
    except NoSuchJobError:
        return None


@dataclass(frozen=True)
class LiveRead:
    """What Redis knows of one open job: its RQ record (None: expired or never queued), how many
    jobs are ahead of it in its queue (None: not waiting there) and how many workers serve that queue."""

    rq_job: Job | None
    ahead: int | None
    workers: int


def gpu_jobs_read(jobs: Sequence[tuple[str, str]]) -> list[LiveRead]:
    """The live state of many open jobs in ONE round trip, whatever their number (a page of a list, or
    the one job of a status poll). Each item is (RQ job id, its queue).

    One pipeline: HGETALL and LPOS (Redis >= 6.0.6) of each job, and SCARD of each queue's worker
    set. rq's own Job.get_position would add an INFO and an LPOS round trip per job, and
    Worker.count an SMEMBERS per job.
    """
    if not jobs:
        return []
    queues = sorted({queue for _, queue in jobs})
    connection = _connection()
    with connection.pipeline(transaction=False) as pipeline:
        for rq_job_id, queue in jobs:
            pipeline.hgetall(Job.key_for(rq_job_id))
            pipeline.lpos(f"{Queue.redis_queue_namespace_prefix}{queue}", rq_job_id)
        for queue in queues:
            pipeline.scard(WORKERS_BY_QUEUE_KEY % queue)
        replies = iter(pipeline.execute())
        reads = []
        for rq_job_id, _ in jobs:
            raw, ahead = next(replies), next(replies)
            rq_job = None
            if raw:
                rq_job = Job(rq_job_id, connection=connection, serializer=JSONSerializer)
                rq_job.restore(raw)
            reads.append((rq_job, ahead))
        workers = {queue: int(next(replies)) for queue in queues}
    return [
        LiveRead(rq_job=rq_job, ahead=ahead, workers=workers[queue])
        for (rq_job, ahead), (_, queue) in zip(reads, jobs, strict=True)
    ]


def gpu_job_progress(rq_job: Job) -> Progress | None:
    # Job.fetch has just loaded the meta: reading it again would be one more Redis round trip
    # on the status poll, which every open progress page makes each second.
    raw = rq_job.meta.get(PROGRESS_META_KEY)
    if raw is None:
        return None
    return Progress.from_dict(raw)


def gpu_job_cancel(*, job_id: str, attempt: int = 1) -> None:
    """Ask the GPU tier to drop the job: taken off the queue if waiting, stopped at its next step if running."""
    _connection().set(f"{CANCEL_KEY_PREFIX}{job_id}", "1", ex=24 * 3600)
    rq_job = gpu_job_fetch(rq_job_ids(job_id, attempt)[0])
    if rq_job is not None and rq_job.get_status(refresh=False) in ("queued", "deferred", "scheduled"):
        rq_job.cancel(enqueue_dependents=True)


def gpu_job_last_sign_of_life(rq_job: Job) -> float | None:
    """Epoch seconds of the latest sign of life: the worker's heartbeat (stamped every
    HEARTBEAT_SECONDS while the job runs), a progress report, or the start; None if not started."""
    progress = gpu_job_progress(rq_job)
    signs = [_epoch(rq_job.started_at), _epoch(rq_job.last_heartbeat)]
    if progress is not None and progress.updated_at:
        signs.append(progress.updated_at)
    known = [sign for sign in signs if sign is not None]
    return max(known) if known else None


def _epoch(moment) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # RQ writes UTC
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_GPU_RQ_JOB_ID = re.compile(r"^gpu-(?P<job>[0-9a-f-]{36})(?:-a(?P<attempt>[0-9]+))?$")


def gpu_jobs_of_worker(worker_name: str) -> list[tuple[str, int]]:
    """(job id, attempt) of every GPU job the named worker had started and not finished, read
    from RQ's started-job registries of every workflow's queue."""
    from rq.registry import StartedJobRegistry

    from gpu_worker.contract import all_contracts

    connection = _connection()
    found = []
    for name in sorted({contract.queue for contract in all_contracts().values()}):
        registry = StartedJobRegistry(name, connection=connection, serializer=JSONSerializer)
        rq_ids = registry.get_job_ids(cleanup=False)
        for rq_job in Job.fetch_many(rq_ids, connection=connection, serializer=JSONSerializer):
            if rq_job is None or rq_job.worker_name != worker_name:
                continue
            if rq_job.get_status(refresh=False) != "started":
                continue
            match = _GPU_RQ_JOB_ID.match(rq_job.id)
            if match is not None:
                found.append((match["job"], int(match["attempt"] or 1)))
    return found


def gpu_attempt_stop(*, job_id: str, attempt: int) -> None:
    """Stop one attempt of a job (not the job): set when an attempt is replaced by the next one."""
    gpu_id = rq_job_ids(job_id, attempt)[0]
    _connection().set(f"{CANCEL_KEY_PREFIX}{gpu_id}", "1", ex=24 * 3600)


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
