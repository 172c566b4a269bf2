"""The GPU worker outlives a Redis outage, and says it is alive while a job runs.

- RQ's own loop retries a lost connection only while it waits for a job; a Redis error anywhere
  else (the heartbeat after a job, registering at start, deregistering at the end) ends `work()`.
  `ResilientGpuWorker.work` then waits for Redis with backoff and starts the loop again, in the
  same process: the models stay loaded and the supervisor sees no crash.
- SimpleWorker runs a job in its main thread and sends RQ no heartbeat until the job ends. A
  thread stamps the job's `last_heartbeat` every HEARTBEAT_SECONDS while it runs, so the web
  tier can tell a long silent step from a dead worker within HEARTBEAT_TIMEOUT_SECONDS.
- A supervisor that sees a worker process die reports its RQ name (`report_worker_lost`) so the
  web tier fails (or resumes) that worker's job at once instead of waiting for the silence.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress

import redis
from rq.serializers import JSONSerializer
from rq.utils import now, utcformat

from gpu_worker.contract import HEARTBEAT_SECONDS
from gpu_worker.recycling import RecyclingWorker

logger = logging.getLogger(__name__)

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RECONNECT_BACKOFF_SECONDS = (1, 2, 4, 8, 15)
# A work loop that ran this long before Redis failed starts again from the first delay.
STABLE_LOOP_SECONDS = 60

# Named, not imported: the GPU tier never imports the web tier. It runs on the web tier's
# JSON "urgent" queue, which the Django workers serve before "default".
WORKER_LOST_FUNCTION = "generation.tasks.gpu_worker_lost"
WORKER_LOST_QUEUE = "urgent"

# Sets the job's last_heartbeat only while the job's record exists (a heartbeat must never
# recreate a record RQ has just deleted).
_STAMP_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[1])
    return 1
end
return 0
"""


def unique_worker_name(label: str) -> str:
    """An RQ worker name a supervisor can choose before the process starts (RQ refuses a name
    whose previous owner was killed before it could deregister, so each start gets a new one)."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}-{label}"


def wait_for_redis(connection: redis.Redis, *, should_stop: Callable[[], bool]) -> bool:
    """Ping with backoff until Redis answers (True) or `should_stop()` (False)."""
    attempt = 0
    while not should_stop():
        try:
            connection.ping()
            if attempt:
                logger.warning("Redis answers again")
            return True
        except REDIS_ERRORS as exc:
            delay = RECONNECT_BACKOFF_SECONDS[min(attempt, len(RECONNECT_BACKOFF_SECONDS) - 1)]
            logger.warning("Redis is unavailable (%s); trying again in %ss", exc, delay)
            attempt += 1
            deadline = time.monotonic() + delay
            while not should_stop() and time.monotonic() < deadline:
                time.sleep(0.1)
    return False


def report_worker_lost(connection: redis.Redis, worker_name: str) -> bool:
    """Tell the web tier that the worker process named `worker_name` died (best effort)."""
    from rq import Queue

    try:
        Queue(WORKER_LOST_QUEUE, connection=connection, serializer=JSONSerializer).enqueue(
            WORKER_LOST_FUNCTION,
            worker_name,
            job_timeout=60,
            result_ttl=3600,
            description=f"GPU worker lost: {worker_name}",
        )
    except REDIS_ERRORS as exc:  # the sweeper notices the silence instead
        logger.warning("could not report the loss of worker %s: %s", worker_name, exc)
        return False
    return True


class JobHeartbeat(threading.Thread):
    """Stamps a running job's `last_heartbeat` (and keeps the worker's own record alive)."""

    def __init__(self, worker: ResilientGpuWorker, job, interval: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(name=f"heartbeat-{job.id}", daemon=True)
        self.worker = worker
        self.job = job
        self.interval = interval
        self._stopped = threading.Event()
        self._stamp = worker.connection.register_script(_STAMP_IF_EXISTS)

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self._stamp(keys=[self.job.key], args=[utcformat(now())])
                self.worker.heartbeat()
            except REDIS_ERRORS as exc:  # Redis restarting: the next beat tries again
                logger.debug("heartbeat of job %s failed: %s", self.job.id, exc)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


class ResilientGpuWorker(RecyclingWorker):
    jobs_executed = 0

    def _set_ip_address(self, connection: redis.Redis) -> None:
        try:
            super()._set_ip_address(connection)
        except REDIS_ERRORS:  # Redis down at start: work() waits for it
            self.ip_address = "unknown"

    def execute_job(self, job, queue):
        beat = JobHeartbeat(self, job)
        beat.start()
        try:
            super().execute_job(job, queue)
        finally:
            beat.stop()
            self.jobs_executed += 1

    def work(self, burst: bool = False, max_jobs: int | None = None, **kwargs) -> bool:
        """RQ's loop, started again after a Redis outage until a stop is asked for."""
        worked = False
        failures = 0
        while True:
            started = time.monotonic()
            left = None if max_jobs is None else max(1, max_jobs - self.jobs_executed)
            try:
                worked = super().work(burst=burst, max_jobs=left, **kwargs) or worked
            except REDIS_ERRORS as exc:  # while registering at start or deregistering at the end
                logger.error("worker %s lost Redis: %s", self.name, exc)
                self._drop_subscription()
            # A SIGTERM while idle ends RQ's loop without setting _stop_requested (only a busy worker
            # sets it): the shutdown date says a stop was asked for, so do not reconnect.
            asked_to_stop = self._stop_requested or self._shutdown_requested_date is not None
            if burst or asked_to_stop or (max_jobs is not None and self.jobs_executed >= max_jobs):
                return worked
            # RQ's loop ended on an error it does not survive (it logged it): start it again.
            failures = 0 if time.monotonic() - started > STABLE_LOOP_SECONDS else failures + 1
            logger.warning("worker %s: work loop ended on an error; reconnecting", self.name)
            self._wait_before_reconnecting(failures)
            if self._stop_requested:
                return worked

    def _wait_before_reconnecting(self, failures: int) -> None:
        def stop(signum, frame) -> None:  # RQ's own handlers would write to Redis
            self._stop_requested = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        delay = RECONNECT_BACKOFF_SECONDS[min(max(failures - 1, 0), len(RECONNECT_BACKOFF_SECONDS) - 1)]
        deadline = time.monotonic() + delay
        while not self._stop_requested and time.monotonic() < deadline:
            time.sleep(0.1)
        if wait_for_redis(self.connection, should_stop=lambda: self._stop_requested):
            # Our own record from before the outage, never deregistered: RQ would refuse the name.
            with suppress(*REDIS_ERRORS):
                self.connection.delete(self.key)

    def _drop_subscription(self) -> None:
        """What teardown could not finish: the command channel's thread, so a new one starts clean."""
        thread, self.pubsub_thread = self.pubsub_thread, None
        if thread is not None:
            thread.stop()
            thread.join(timeout=1)
        if self.pubsub is not None:
            with suppress(Exception):
                self.pubsub.close()
