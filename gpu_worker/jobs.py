"""The entry point RQ calls (`gpu_worker.jobs.run_job`) with a JSON JobSpec; returns a JSON JobResult.

Expected failures (bad image, missing input, OOM, unsupported job) come back as a failed
JobResult with a typed code. Anything unexpected is raised so RQ records the traceback;
the Django-side finalize then reports it as `internal`.
"""

from __future__ import annotations

import logging
from typing import Any

from gpu_worker.context import JobContext
from gpu_worker.contract import (
    CANCEL_KEY_PREFIX,
    STARTED_FUNCTION,
    STARTED_QUEUE,
    ContractError,
    ErrorCode,
    JobKind,
    JobResult,
    JobSpec,
)
from gpu_worker.errors import WorkflowError
from gpu_worker.progress import ProgressReporter
from gpu_worker.runtime import runtime
from gpu_worker.storage import StorageKeyError, StorageMissing
from gpu_worker.workflows import desk_makeover, preview

logger = logging.getLogger(__name__)

WORKFLOWS = {JobKind.PREVIEW: preview.run, JobKind.DESK_MAKEOVER: desk_makeover.run}


def run_job(spec_data: dict[str, Any]) -> dict[str, Any]:
    from rq import get_current_job

    job_id = str(spec_data.get("job_id", "")) if isinstance(spec_data, dict) else ""
    try:
        spec = JobSpec.from_dict(spec_data)
    except ContractError as exc:
        return JobResult.failure(job_id or "unknown", ErrorCode.UNSUPPORTED_JOB, f"bad job spec: {exc}").to_dict()
    rq_job = get_current_job()
    cancel_key = f"{CANCEL_KEY_PREFIX}{spec.job_id}"

    def cancel_requested() -> bool:
        return rq_job is not None and bool(rq_job.connection.exists(cancel_key))

    progress = ProgressReporter(rq_job, cancel_requested=cancel_requested)
    if rq_job is not None:
        _announce_start(rq_job, spec.job_id)
    return execute(spec, progress).to_dict()


def _announce_start(rq_job, job_id: str) -> None:
    """Tell the web tier the job is running (a JSON job on its queue, by function name)."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    try:
        Queue(STARTED_QUEUE, connection=rq_job.connection, serializer=JSONSerializer).enqueue(
            STARTED_FUNCTION, job_id, job_timeout=60, result_ttl=60, description=f"started {job_id}"
        )
    except Exception:
        logger.exception("could not announce the start of job %s", job_id)


def execute(spec: JobSpec, progress: ProgressReporter) -> JobResult:
    workflow = WORKFLOWS.get(spec.kind)
    if workflow is None:
        return JobResult.failure(spec.job_id, ErrorCode.UNSUPPORTED_JOB, f"this worker cannot run {spec.kind} jobs")
    state = runtime()
    ctx = JobContext(spec=spec, storage=state.storage, progress=progress, models=state.models, runtime=state)
    try:
        return workflow(ctx)
    except (StorageMissing, StorageKeyError) as exc:
        return JobResult.failure(spec.job_id, ErrorCode.INPUT_MISSING, f"input not found: {exc}")
    except WorkflowError as exc:
        return JobResult.failure(spec.job_id, exc.code, exc.message, timings=dict(ctx.timings))
    except Exception as exc:
        if _is_out_of_memory(exc):
            state.release_memory()
            return JobResult.failure(spec.job_id, ErrorCode.OUT_OF_MEMORY, "The GPU ran out of memory for this photo.")
        raise


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    message = str(exc).lower()
    # CUDA says "out of memory"; the CPU allocator "not enough memory" or "can't allocate memory".
    return (
        isinstance(exc, torch.OutOfMemoryError | MemoryError)
        or "out of memory" in message
        or ("not enough memory" in message)
    )
