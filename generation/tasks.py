"""Django-side RQ jobs (queue "default", run by `manage.py rqworker default`)."""

from __future__ import annotations

import logging
import uuid

from generation import services
from ontop.log_context import job_log_context

logger = logging.getLogger(__name__)


def finalize_gpu_job(job_id: str, attempt: int = 1) -> str:
    """Record the GPU job's outcome in PostgreSQL (idempotent; retried by RQ if the database is down)."""
    with job_log_context(job_id):  # every line about this job carries its id (ontop/log_context.py)
        result, changed = services.job_finalize_from_queue(job_id=uuid.UUID(job_id), attempt=attempt)
        outcome = f"{result.status.value}{'' if changed else ' (already final)'}"
        logger.info("finalized attempt %d: %s", attempt, outcome)
    return outcome


def gpu_job_started(job_id: str) -> bool:
    """The GPU tier picked the job up (it enqueues this by name)."""
    with job_log_context(job_id):
        return services.job_mark_running(job_id=uuid.UUID(job_id))


def gpu_worker_lost(worker_name: str) -> int:
    """A GPU tier supervisor saw this worker process die (it enqueues this by name, JSON)."""
    return services.gpu_worker_lost(worker_name=worker_name)


def sweep_jobs() -> dict:
    """Periodic, every few seconds: fail (or resume) jobs whose worker went silent; fail jobs stuck
    past their deadline; finalize the ones whose finalize never ran."""
    return services.jobs_sweep()


def sweep() -> dict:
    """Periodic: drop uploads nothing used and orphaned files (the jobs have a sweep of their own)."""
    return {
        "unused_uploads": services.unused_uploads_sweep(),
        "orphaned_files": services.orphaned_files_sweep(),
    }
