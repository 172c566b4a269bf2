"""Periodic jobs, enqueued on the JSON "default" (or "urgent") queue by `manage.py periodic` (started by make run).

Why not rq's cron: `rq.cron.CronJob.enqueue` always builds a pickle-serialised Queue, and our
workers read JSON only. Each job name holds a Redis key (SET NX EX interval) while its interval
runs, so any number of schedulers can run side by side without enqueuing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import django_rq

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    function: str  # dotted path: the scheduler never imports the job's code
    interval_seconds: int
    timeout_seconds: int = 1800
    queue: str = "default"


PERIODIC_JOBS = (
    # Every 10 s: a GPU worker silent for HEARTBEAT_TIMEOUT_SECONDS (15 s) is noticed within 30 s
    # even when the whole machine died and no supervisor could report it.
    PeriodicJob("sweep-jobs", "generation.tasks.sweep_jobs", 10, timeout_seconds=60, queue="urgent"),
    PeriodicJob("sweep", "generation.tasks.sweep", 60, timeout_seconds=300),
    PeriodicJob("refresh-stale-offers", "shop.tasks.refresh_stale_offers", 3600),
    PeriodicJob("expire-studio-subjects", "studio.tasks.subjects_expire", 3600),
    PeriodicJob("expire-one-photo-profiles", "studio.one_photo.one_photo_profiles_expire", 3600),
)


def tick(jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> list[str]:
    """Enqueue every job whose interval has passed. Returns the names enqueued."""
    enqueued = []
    for job in jobs:
        queue = django_rq.get_queue(job.queue)
        if queue.connection.set(f"ontop:periodic:{job.name}", "1", nx=True, ex=job.interval_seconds):
            queue.enqueue(job.function, job_timeout=job.timeout_seconds, description=f"periodic {job.name}")
            logger.info("enqueued periodic job %s", job.name)
            enqueued.append(job.name)
    return enqueued
