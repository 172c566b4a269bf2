"""The GPU worker's RQ worker: jobs in-process (no fork), and a clean exit when memory has grown.

A process that exits between jobs loses nothing: the next job waits in Redis, and the
supervisor (`--gpus`) or the platform starts a fresh process with fresh memory.
"""

from __future__ import annotations

import logging
import resource

from rq import SimpleWorker

from gpu_worker import metrics as gpu_metrics

logger = logging.getLogger(__name__)


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize()
    except OSError:  # not Linux: fall back to the peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RecyclingWorker(SimpleWorker):
    max_rss_bytes = 0
    slot = ""  # what recycles are counted by: "<host>-<gpu or role>", the same across restarts

    def execute_job(self, job, queue):
        super().execute_job(job, queue)
        rss = current_rss_bytes()
        gpu_metrics.rss_observed(rss)
        if self.max_rss_bytes and rss > self.max_rss_bytes:
            gpu_metrics.recycle_record(self.connection, self.slot or self.name)
            logger.warning(
                "memory at %.0f MB (limit %.0f MB): recycling this worker", rss / 2**20, self.max_rss_bytes / 2**20
            )
            self._stop_requested = True  # RQ's own flag: stop after this job, like a warm shutdown
