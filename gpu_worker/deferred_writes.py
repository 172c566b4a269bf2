"""Writes that finish after their job has been reported: the GPU takes the next job meanwhile.

The desk makeover's lossless PNG (an explicit download only) takes 0.3 s even stored without
compression at 2389x1792 (PNG filtering), 0.5 s at level 1: on the job's path that is a fifth of the
whole-makeover budget. The job lists the PNG's key at once and the encode runs here, on one thread
for the process (Pillow releases the GIL while it encodes, so it overlaps the next job's GPU work).

Until the file exists its download answers 404; a worker that is killed before writing it loses
only that copy (the JPEG result is written in line). A worker that stops or recycles flushes first
(`flush`, called by gpu_worker.__main__ after RQ's loop returns). A write for a job deleted
meanwhile leaves a file under a job id nobody has, which the orphan sweep removes.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future] = set()


def defer(write: Callable[[], object], *, what: str) -> Future:
    """Runs `write` on the process's writer thread, with the caller's context (its job id on log
    lines). A failure is logged, never raised: the job has already been reported."""
    global _executor
    context = contextvars.copy_context()

    def run() -> None:
        try:
            context.run(write)
        except Exception:  # noqa: BLE001 - the job is reported already: log it, keep the thread
            context.run(logger.exception, "deferred write of %s failed", what)

    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deferred-write")
        future = _executor.submit(run)
        _pending.add(future)
    future.add_done_callback(_forget)
    return future


def _forget(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def pending() -> int:
    with _lock:
        return len(_pending)


def flush(timeout: float | None = None) -> bool:
    """Waits for every write queued so far; False when some were still running after `timeout`."""
    with _lock:
        futures = set(_pending)
    if not futures:
        return True
    _, not_done = wait(futures, timeout=timeout)
    if not_done:
        logger.warning("%d deferred writes still running after %.0f s", len(not_done), timeout or 0)
    return not not_done
