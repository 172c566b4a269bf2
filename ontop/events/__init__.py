"""Live job progress pushed to watchers (Server-Sent Events) instead of polled.

- The GPU worker publishes every progress write on the job's channel, in the same Redis round trip
  as the write (gpu_worker/progress.py).
- The web tier publishes its own state changes (running, succeeded, failed, cancelled, a new
  attempt) after they commit: `job_event_publish`.
- Each web process keeps ONE Redis pub/sub connection and fans the events out to the streams it
  serves (ontop/events/stream.py); a stream sends the same JSON as the status endpoint.
"""

from __future__ import annotations

import json
import logging
import time

logger = logging.getLogger(__name__)

# Must match gpu_worker.progress.EVENTS_CHANNEL_PREFIX (the GPU tier cannot import the web tier;
# tests/test_progress_events.py checks that the two agree).
CHANNEL_PREFIX = "ontop:events:job:"


def job_channel(job_id) -> str:
    return f"{CHANNEL_PREFIX}{job_id}"


def job_event_publish(*, job_id) -> None:
    """Tell watchers that the job's row changed, once the transaction that changed it commits.

    Best effort: a lost event only delays the page until the stream's periodic re-read.
    """
    from django.db import transaction

    transaction.on_commit(lambda: _publish(str(job_id)))


def _publish(job_id: str) -> None:
    import django_rq
    from redis.exceptions import RedisError

    try:
        django_rq.get_connection("default").publish(
            job_channel(job_id), json.dumps({"type": "state", "at": time.time()})
        )
    except RedisError:
        logger.warning("could not publish the state change of job %s", job_id)
