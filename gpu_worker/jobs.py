"""The entry point RQ calls (`gpu_worker.jobs.run_job`) with a JSON JobSpec; returns a JSON JobResult.

The job's kind picks a registered workflow (gpu_worker.workflow). Expected failures (bad image,
bad params, missing input, OOM, a kind this worker does not serve, the workflow's own errors)
come back as a failed JobResult with a code. Anything unexpected is raised so RQ records the
traceback; the Django-side finalize then reports it as `internal`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gpu_worker import metrics as gpu_metrics
from gpu_worker.contract import (
    CANCEL_KEY_PREFIX,
    ContractError,
    ErrorCode,
    JobResult,
    JobSpec,
    JobStatus,
    TaskRef,
    encode,
)
from gpu_worker.errors import WorkflowError
from gpu_worker.logs import job_log_context
from gpu_worker.progress import ProgressReporter
from gpu_worker.runtime import Runtime, runtime
from gpu_worker.storage import StorageKeyError, StorageMissing
from gpu_worker.workflow import context_for, served_workflows

logger = logging.getLogger(__name__)


def run_job(spec_data: dict[str, Any]) -> dict[str, Any]:
    from rq import get_current_job

    job_id = str(spec_data.get("job_id", "")) if isinstance(spec_data, dict) else ""
    try:
        spec = JobSpec.from_dict(spec_data)
    except ContractError as exc:
        return JobResult.failure(job_id or "unknown", ErrorCode.UNSUPPORTED_JOB, f"bad job spec: {exc}").to_dict()
    rq_job = get_current_job()
    cancel_keys = [f"{CANCEL_KEY_PREFIX}{spec.job_id}"]
    if rq_job is not None:
        cancel_keys.append(f"{CANCEL_KEY_PREFIX}{rq_job.id}")  # this attempt only

    def cancel_requested() -> bool:
        return rq_job is not None and bool(rq_job.connection.exists(*cancel_keys))

    progress = ProgressReporter(rq_job, cancel_requested=cancel_requested)
    with job_log_context(spec.job_id):
        if rq_job is not None and spec.on_start is not None:
            _announce_start(rq_job, spec.on_start, spec.job_id)
        # Timed and counted for this worker's /metrics (gpu_worker/metrics.py).
        return gpu_metrics.run_observed(spec.kind, progress, lambda: execute(spec, progress)).to_dict()


def _announce_start(rq_job, task: TaskRef, job_id: str) -> None:
    """Tell the web tier the job is running: the function it named, by name, as JSON on its queue."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    try:
        Queue(task.queue, connection=rq_job.connection, serializer=JSONSerializer).enqueue(
            task.function,
            job_id,
            # An id that names the job (and attempt), so RQ's lines about it carry the job id in the logs.
            job_id=f"started-{rq_job.id}",
            job_timeout=60,
            result_ttl=60,
            description=f"started {job_id}",
        )
    except Exception:
        logger.exception("could not announce the start of job %s", job_id)


def execute(spec: JobSpec, progress: ProgressReporter, state: Runtime | None = None) -> JobResult:
    # Every line logged while the job runs carries its id (gpu_worker/logs.py).
    with job_log_context(spec.job_id):
        started = time.monotonic()
        logger.info("%s job started", spec.kind)
        result = _execute(spec, progress, state)
        failed = f" ({result.error.code})" if result.error is not None else ""
        logger.info("%s job %s%s in %.1f s", spec.kind, result.status.value, failed, time.monotonic() - started)
        return result


def _execute(spec: JobSpec, progress: ProgressReporter, state: Runtime | None) -> JobResult:
    state = state or runtime()
    registered = served_workflows(state.config.workflows).get(spec.kind)
    if registered is None:
        return JobResult.failure(spec.job_id, ErrorCode.UNSUPPORTED_JOB, f"this worker does not run {spec.kind} jobs")
    try:
        params = registered.contract.decode_params(spec.params)
    except ContractError as exc:
        return JobResult.failure(spec.job_id, ErrorCode.BAD_PARAMS, str(exc))
    ctx = context_for(registered, spec, state, progress)
    try:
        typed = registered.run(ctx, params)
    except (StorageMissing, StorageKeyError, ContractError) as exc:
        code = ErrorCode.INPUT_MISSING if not isinstance(exc, ContractError) else ErrorCode.BAD_PARAMS
        return JobResult.failure(spec.job_id, code, f"input not usable: {exc}", timings=dict(ctx.timings))
    except WorkflowError as exc:
        return JobResult.failure(spec.job_id, exc.code, exc.message, timings=dict(ctx.timings))
    except Exception as exc:
        if _is_out_of_memory(exc):
            state.release_memory()
            return JobResult.failure(spec.job_id, ErrorCode.OUT_OF_MEMORY, "The GPU ran out of memory for this job.")
        raise
    if not isinstance(typed, registered.contract.result):
        raise TypeError(f"the {spec.kind} workflow returned {type(typed).__name__}, not its contract's result")
    return JobResult(
        job_id=spec.job_id,
        status=JobStatus.SUCCEEDED,
        outputs=list(ctx.outputs),
        timings=dict(ctx.timings),
        models=ctx.models.identifiers(),
        data=encode(typed),
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    message = str(exc).lower()
    # CUDA says "out of memory"; the CPU allocator "not enough memory" or "can't allocate memory".
    return (
        isinstance(exc, torch.OutOfMemoryError | MemoryError)
        or "out of memory" in message
        or ("not enough memory" in message)
    )
