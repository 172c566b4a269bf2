"""Publish live progress into the running RQ job's meta (read by the web tier through Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gpu_worker.contract import PROGRESS_META_KEY, Progress
from gpu_worker.errors import JobCancelled


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
        self.rq_job.save_meta()
        self._last_write = now
        self._last_stage = stage
