"""Stands in for the GPU workers while the load test runs: every seeded job reports progress every
PERIOD seconds through the GPU worker's own ProgressReporter (the meta write and the publish in
one round trip), spread evenly over the period. The report's `step` carries the publish time
(milliseconds, modulo 10^9), so a watcher can tell how long the event took to reach it.

python tools/loadtest/driver.py PEOPLE_FILE PERIOD_SECONDS DURATION_SECONDS   (REDIS_URL from the env)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from gpu_worker.progress import ProgressReporter

STAMP_MODULO = 1_000_000_000


def stamp_now() -> int:
    return int(time.time() * 1000) % STAMP_MODULO


def main(people_file: str, period: float, duration: float) -> None:
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    ids = [json.loads(line)["rq_job"] for line in Path(people_file).read_text().splitlines() if line.strip()]
    reporters = [
        ProgressReporter(Job.fetch(rq_id, connection=connection, serializer=JSONSerializer), min_interval=0)
        for rq_id in ids
    ]
    start = time.monotonic()
    tick, published, late = 0, 0, 0.0
    while time.monotonic() < start + duration:
        for index, reporter in enumerate(reporters):
            due = start + tick * period + index * period / len(reporters)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                late = max(late, -delay)
            reporter.history.clear()  # the GPU worker's reporter lives for one job; this one for the run
            reporter.report("painting", 1 + tick % 98, step=stamp_now(), total_steps=STAMP_MODULO)
            published += 1
        tick += 1
    print(f"driver: {published} progress reports published, at most {late * 1000:.0f} ms behind schedule")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
