"""Publish live progress into the running RQ job's meta (read by the web tier through Redis), and
announce each write on the job's events channel so the web tier can push it to whoever watches."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from gpu_worker.contract import PROGRESS_META_KEY, Progress
from gpu_worker.errors import JobCancelled

# One channel per GenerationJob (its uuid, the spec's job_id), whatever the attempt: the web tier
# (ontop/events) listens with one pattern subscription per process. The web tier publishes its own
# state changes (succeeded, failed, ...) on the same channel; ontop.events.CHANNEL_PREFIX must match.
EVENTS_CHANNEL_PREFIX = "ontop:events:job:"


def events_channel(job_id: str) -> str:
    return f"{EVENTS_CHANNEL_PREFIX}{job_id}"


def _spec_job_id(rq_job) -> str:
    """The GenerationJob's id: the JobSpec is the GPU job's only argument (see generation.dispatch)."""
    args = getattr(rq_job, "args", None) or ()
    spec = args[0] if args else None
    return str(spec.get("job_id", "")) if isinstance(spec, dict) else ""


class ProgressReporter:
    """Writes at most every `min_interval` seconds, but always on a new stage or at 100 %.

    Every report is also where a cancellation is noticed: `cancel_requested` is asked each time
    (one Redis EXISTS), and a requested cancel stops the job between two denoising steps.
    """

    def __init__(
        self, rq_job=None, *, min_interval: float = 0.25, cancel_requested: Callable[[], bool] | None = None
    ) -> None:
        self.rq_job = rq_job
        self.cancel_requested = cancel_requested
        self.min_interval = min_interval
        self.history: list[Progress] = []
        self._last_write = 0.0
        self._last_stage = ""
        job_id = _spec_job_id(rq_job) if rq_job is not None else ""
        self._channel = events_channel(job_id) if job_id else ""

    def report(
        self,
        stage: str,
        percent: float,
        *,
        step: int = 0,
        total_steps: int = 0,
        message: str = "",
        loss: float | None = None,
        eta_seconds: float | None = None,
        preview_key: str = "",
    ) -> None:
        if self.cancel_requested is not None and self.cancel_requested():
            raise JobCancelled("The job was cancelled.")
        progress = Progress(
            stage=stage,
            percent=round(min(100.0, max(0.0, percent)), 1),
            step=step,
            total_steps=total_steps,
            message=message,
            updated_at=time.time(),
            loss=loss,
            eta_seconds=eta_seconds,
            preview_key=preview_key,
        )
        self.history.append(progress)
        now = time.monotonic()
        urgent = stage != self._last_stage or progress.percent >= 100.0
        if self.rq_job is None or (not urgent and now - self._last_write < self.min_interval):
            return
        self.rq_job.meta[PROGRESS_META_KEY] = progress.to_dict()
        self._save_and_publish()
        self._last_write = now
        self._last_stage = stage

    def _save_and_publish(self) -> None:
        """RQ's save_meta and the event in ONE round trip (a pipeline without MULTI): watching a job
        must not slow the GPU down. The event carries only what changed; the web tier reads the
        state itself (the same reader the status endpoint uses)."""
        rq_job = self.rq_job
        meta = rq_job.serializer.dumps(rq_job.meta)
        if not self._channel:
            rq_job.connection.hset(rq_job.key, "meta", meta)
            return
        event = json.dumps({"type": "progress", "attempt_rq_id": rq_job.id, "at": time.time()})
        pipe = rq_job.connection.pipeline(transaction=False)
        pipe.hset(rq_job.key, "meta", meta)
        pipe.publish(self._channel, event)
        pipe.execute()
