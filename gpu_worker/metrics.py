"""Prometheus metrics of one GPU worker process, served by the process itself.

ONTOP_GPU_METRICS_PORT (0, the default: off) is the port of the first GPU; a worker pinned to one
GPU (CUDA_VISIBLE_DEVICES=<index>, as `--gpus` does) listens on PORT + index, so one scrape
config covers a machine. ONTOP_GPU_METRICS_ADDR is the address (127.0.0.1; 0.0.0.0 for a
Prometheus on another machine, behind a firewall). A port that is taken is a start-up error.

What it exports (deploy/monitoring/grafana/ontop.json charts it):
- ontop_gpu_jobs_total{workflow,outcome}: jobs this process ran (outcome: succeeded or the code);
- ontop_gpu_job_seconds / ontop_gpu_stage_seconds{workflow,stage}: histograms (WorkflowContext.timings);
- ontop_gpu_steps_total and ontop_gpu_steps_per_second{workflow}: denoising steps, and the last
  job's rate while it denoised (from its progress reports);
- ontop_gpu_vram_bytes / ontop_gpu_vram_peak_bytes{device}: torch's allocated memory now and the
  process's peak, read at scrape time; ontop_gpu_job_vram_peak_bytes{workflow}: the last job's peak.
  On CPU there is no VRAM: the series exist with device="cpu" and value 0.
- ontop_gpu_model_load_seconds{role}: how long each model took to load at warm-up;
- ontop_gpu_worker_rss_bytes, ontop_gpu_worker_rss_limit_bytes: memory against ONTOP_GPU_MAX_RSS_MB.
  A recycling process exits right after its job, so it counts the recycle in Redis (RECYCLES_KEY)
  and the web's /metrics exports ontop_gpu_worker_recycles_total{worker}.
- ontop_openai_calls_total{purpose,outcome}, ontop_openai_fallbacks_total{purpose}: OpenAI calls
  from gpu_worker/llm.py; a failed call is a fallback (the caller uses its local planner/writer).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from gpu_worker.config import WorkerConfigError

# The web tier's multi-process directory must not catch this process's metrics (they would be
# served twice, once here and once summed into the web's /metrics): this process serves its own.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Read by ontop/metrics.py (same literal: the web tier does not import this module).
RECYCLES_KEY = "ontop:metrics:gpu-recycles"
# The purposes gpu_worker/llm.py's callers name (schema names); listed so their series start at 0.
OPENAI_PURPOSES = ("desk_makeover_plan", "diary_picture_prompt", "pet_portrait_prompt")
OPENAI_FAILURES = ("http_error", "timeout", "request_failed", "no_choices", "refused", "not_json")

_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

WORKER_INFO = Gauge(
    "ontop_gpu_worker_info", "This GPU worker: its RQ name, device and model preset.", ["worker", "device", "preset"]
)
JOBS = Counter("ontop_gpu_jobs_total", "Jobs this worker ran, by workflow and outcome.", ["workflow", "outcome"])
JOB_SECONDS = Histogram("ontop_gpu_job_seconds", "Wall time of a job in this worker.", ["workflow"], buckets=_SECONDS)
STAGE_SECONDS = Histogram(
    "ontop_gpu_stage_seconds", "Time per stage of a job (its timings).", ["workflow", "stage"], buckets=_SECONDS
)
STEPS = Counter("ontop_gpu_steps_total", "Denoising (or training) steps done.", ["workflow"])
STEPS_PER_SECOND = Gauge(
    "ontop_gpu_steps_per_second", "Steps per second of the last job while it stepped.", ["workflow"]
)
JOB_VRAM_PEAK = Gauge("ontop_gpu_job_vram_peak_bytes", "Peak VRAM allocated during the last job.", ["workflow"])
MODEL_LOAD_SECONDS = Gauge("ontop_gpu_model_load_seconds", "How long a model took to load.", ["role"])
RSS = Gauge("ontop_gpu_worker_rss_bytes", "Resident memory of this worker after its last job.")
RSS_LIMIT = Gauge("ontop_gpu_worker_rss_limit_bytes", "ONTOP_GPU_MAX_RSS_MB in bytes (0: never recycles).")
OPENAI_CALLS = Counter("ontop_openai_calls_total", "Calls to OpenAI by purpose and outcome.", ["purpose", "outcome"])
OPENAI_FALLBACKS = Counter(
    "ontop_openai_fallbacks_total", "OpenAI calls that failed, so the local fallback was used.", ["purpose"]
)
for _purpose in OPENAI_PURPOSES:
    OPENAI_CALLS.labels(purpose=_purpose, outcome="ok")
    OPENAI_FALLBACKS.labels(purpose=_purpose)
    for _failure in OPENAI_FAILURES:
        OPENAI_CALLS.labels(purpose=_purpose, outcome=_failure)


class _VramCollector(Collector):
    """Read when Prometheus asks: VRAM changes between jobs too (models loading, caches)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = GaugeMetricFamily("ontop_gpu_vram_bytes", "VRAM torch has allocated now.", labels=["device"])
        peak = GaugeMetricFamily(
            "ontop_gpu_vram_peak_bytes", "Peak VRAM torch allocated since the last job started.", labels=["device"]
        )
        for device, allocated, maximum in _vram():
            now.add_metric([device], allocated)
            peak.add_metric([device], maximum)
        yield now
        yield peak


def _vram() -> list[tuple[str, int, int]]:
    import torch

    if not torch.cuda.is_available():
        return [("cpu", 0, 0)]
    return [
        (f"cuda:{index}", torch.cuda.memory_allocated(index), torch.cuda.max_memory_allocated(index))
        for index in range(torch.cuda.device_count())
    ]


def metrics_port() -> int:
    """The port this process serves /metrics on, 0 for none (ONTOP_GPU_METRICS_PORT + GPU index)."""
    raw = os.environ.get("ONTOP_GPU_METRICS_PORT", "").strip() or "0"
    try:
        base = int(raw)
    except ValueError:
        raise WorkerConfigError(f"ONTOP_GPU_METRICS_PORT must be a port number or 0; got {raw!r}.") from None
    if not 0 <= base <= 65535:
        raise WorkerConfigError(f"ONTOP_GPU_METRICS_PORT must be between 0 and 65535; got {base}.")
    if base == 0:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    port = base + (int(visible) if visible.isdigit() else 0)
    if port > 65535:
        raise WorkerConfigError(f"ONTOP_GPU_METRICS_PORT {base} + GPU {visible} is past 65535.")
    return port


_serving: int | None = None


def serve() -> int:
    """Start this process's /metrics (idempotent). Returns the port, 0 when off; raises
    WorkerConfigError for a bad setting or a port that is taken."""
    global _serving
    port = metrics_port()
    if port == 0 or _serving is not None:
        return _serving or port
    address = os.environ.get("ONTOP_GPU_METRICS_ADDR", "").strip() or "127.0.0.1"
    REGISTRY.register(_VramCollector())
    try:
        start_http_server(port, addr=address)
    except OSError as exc:
        raise WorkerConfigError(f"cannot serve metrics on {address}:{port} (ONTOP_GPU_METRICS_PORT): {exc}") from None
    _serving = port
    logger.info("metrics on http://%s:%d/metrics", address, port)
    return port


def worker_started(*, worker: str, device: str, preset: str, rss_limit_bytes: int) -> None:
    WORKER_INFO.labels(worker=worker, device=device, preset=preset).set(1)
    RSS_LIMIT.set(rss_limit_bytes)


def models_warm_up(models, roles: tuple[str, ...]) -> None:
    """ModelRegistry.warm_up, timing each model's load: the loads one role at a time, then the
    registry's own warm-up (with a compiled UNet, a real paint per UNet, so compiling happens here
    and not in the first person's job)."""
    for role in roles:
        started = time.perf_counter()
        already = role in models.loaded()
        models.get(role)
        if not already:
            MODEL_LOAD_SECONDS.labels(role=role).set(round(time.perf_counter() - started, 4))
    models.warm_up(roles)


def run_observed(workflow: str, progress, execute: Callable[[], Any]) -> Any:
    """Run one job (`execute` returns its JobResult) and record what it did."""
    _reset_peak_vram()
    started = time.perf_counter()
    try:
        result = execute()
    except BaseException:
        JOBS.labels(workflow=workflow, outcome="internal").inc()
        JOB_SECONDS.labels(workflow=workflow).observe(time.perf_counter() - started)
        raise
    try:
        _record(workflow, result, progress, time.perf_counter() - started)
    except Exception:  # metrics must never fail a job
        logger.exception("could not record the metrics of a %s job", workflow)
    return result


def _record(workflow: str, result, progress, seconds: float) -> None:
    outcome = "succeeded" if result.error is None else str(result.error.code)
    JOBS.labels(workflow=workflow, outcome=outcome).inc()
    JOB_SECONDS.labels(workflow=workflow).observe(seconds)
    for stage, stage_seconds in (result.timings or {}).items():
        STAGE_SECONDS.labels(workflow=workflow, stage=stage).observe(float(stage_seconds))
    steps, rate = steps_of(progress.history if progress is not None else [])
    if steps:
        STEPS.labels(workflow=workflow).inc(steps)
    if rate is not None:
        STEPS_PER_SECOND.labels(workflow=workflow).set(rate)
    JOB_VRAM_PEAK.labels(workflow=workflow).set(max((peak for _, _, peak in _vram()), default=0))


def steps_of(history) -> tuple[int, float | None]:
    """(steps done, steps per second while stepping) from a job's progress reports: per stage the
    highest step reported; the rate from the first to the last report of the stepping stages."""
    highest: dict[str, int] = {}
    stepping = [p for p in history if p.total_steps > 0]
    for report in stepping:
        highest[report.stage] = max(highest.get(report.stage, 0), report.step)
    steps = sum(highest.values())
    if len(stepping) < 2:
        return steps, None
    first, last = stepping[0], stepping[-1]
    elapsed = last.updated_at - first.updated_at
    done = steps - first.step
    return steps, (round(done / elapsed, 3) if elapsed > 0 and done > 0 else None)


def _reset_peak_vram() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def rss_observed(rss_bytes: int) -> None:
    RSS.set(rss_bytes)


def recycle_record(connection, worker: str) -> None:
    """Count a recycle in Redis: this process exits next, so the web's /metrics exports the count
    (ontop_gpu_worker_recycles_total{worker}; `worker` is the stable slot, "<host>-<gpu or role>")."""
    try:
        connection.hincrby(RECYCLES_KEY, worker, 1)
    except Exception:  # noqa: BLE001 - a recycle must happen even when Redis is down
        logger.warning("could not count the recycle of %s in Redis", worker)


def openai_call_record(purpose: str, outcome: str) -> None:
    OPENAI_CALLS.labels(purpose=purpose, outcome=outcome).inc()
    if outcome != "ok":
        OPENAI_FALLBACKS.labels(purpose=purpose).inc()
