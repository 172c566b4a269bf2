"""Django-side RQ jobs (queue "default", run by `manage.py rqworker default`)."""

from __future__ import annotations

import logging
import uuid

from generation import dispatch, services
from gpu_worker.contract import ContractError, ErrorCode, JobResult, JobStatus

logger = logging.getLogger(__name__)


def finalize_gpu_job(job_id: str) -> str:
    """Read the GPU job's outcome from RQ and record it in PostgreSQL (idempotent).

    On success the shopping offers are looked up first ("finding deals"), so that a person who
    sees "succeeded" also sees the item cards.
    """
    rq_job = dispatch.gpu_job_fetch(f"gpu-{job_id}")
    result = _result_of(job_id, rq_job)
    if result.status is JobStatus.SUCCEEDED:
        services.job_attach_offers(job_id=uuid.UUID(job_id), result=result)
    changed = services.job_finalize(job_id=uuid.UUID(job_id), result=result)
    return f"{result.status.value}{'' if changed else ' (already final)'}"


def _result_of(job_id: str, rq_job) -> JobResult:
    if rq_job is None:
        return JobResult.failure(job_id, ErrorCode.WORKER_LOST, "The job's record expired before it finished.")
    if rq_job.is_finished:
        try:
            return JobResult.from_dict(rq_job.return_value())
        except ContractError as exc:
            logger.error("GPU job %s returned a malformed result: %s", job_id, exc)
            return JobResult.failure(job_id, ErrorCode.INTERNAL, "The GPU worker returned a result we could not read.")
    latest = rq_job.latest_result()
    detail = (latest.exc_string or "") if latest is not None else ""
    if "AbandonedJobError" in detail or "JobTimeoutException" in detail:
        code = ErrorCode.TIMEOUT if "JobTimeoutException" in detail else ErrorCode.WORKER_LOST
        message = "The job took too long." if code is ErrorCode.TIMEOUT else "The GPU worker stopped during the job."
        return JobResult.failure(job_id, code, message)
    logger.error("GPU job %s failed: %s", job_id, detail[-2000:])
    return JobResult.failure(job_id, ErrorCode.INTERNAL, "Something went wrong while making your picture.")


def gpu_job_started(job_id: str) -> bool:
    """The GPU tier picked the job up (it enqueues this by name)."""
    return services.job_mark_running(job_id=uuid.UUID(job_id))


def sweep() -> dict:
    """Periodic: fail jobs whose worker died or that are stuck past their deadline; drop orphaned files."""
    return {"jobs": services.jobs_sweep(), "orphaned_files": services.orphaned_files_sweep()}
