"""The Django-side RQ worker (`manage.py rqworker default --with-scheduler`, settings.RQ's WORKER_CLASS).

Two things RQ 2.12 does not do on its own:

- Survive a Redis outage. RQ retries a lost connection only while it waits for a job; a Redis
  error anywhere else (its heartbeat, registering, deregistering) ends `work()` and the process.
  `work` here waits for Redis with backoff and starts RQ's loop again, in the same process.
- Recover scheduled jobs quickly after a crash. RQ's scheduler holds a per-queue lock for 61 s,
  and a worker that found the lock taken tries again only at its 10-minute maintenance: a killed
  scheduler stalled every scheduled retry (finalize retries) for up to ten minutes. Here the lock
  lives SCHEDULER_LOCK_SECONDS and the worker checks every SCHEDULER_CHECK_SECONDS whether its
  scheduler runs, taking the lock as soon as a dead holder's lease ends.

The GPU tier has the same outage loop of its own (gpu_worker/resilience.py): the tiers share no code.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import suppress

import redis
from rq import Worker
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

logger = logging.getLogger(__name__)

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RECONNECT_BACKOFF_SECONDS = (1, 2, 4, 8, 15)
STABLE_LOOP_SECONDS = 60
SCHEDULER_LOCK_SECONDS = 10
SCHEDULER_CHECK_SECONDS = 3

# Shortens a lock's lease only while `owner` holds it.
_SHORTEN_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class ShortLeaseScheduler(RQScheduler):
    """RQ's scheduler, whose queue locks expire SCHEDULER_LOCK_SECONDS after its last heartbeat
    (RQ's own lease is interval + 60 s). It heartbeats every `interval` (1 s)."""

    def acquire_locks(self, auto_start: bool = False):
        locks = super().acquire_locks(auto_start=auto_start)
        self._shorten_leases()
        return locks

    def heartbeat(self) -> None:
        super().heartbeat()
        self._shorten_leases()

    def _shorten_leases(self) -> None:
        shorten = self.connection.register_script(_SHORTEN_IF_OWNER)
        for name in sorted(self._acquired_locks):
            shorten(keys=[self.get_locking_key(name)], args=[self.name, SCHEDULER_LOCK_SECONDS])


class ResilientWorker(Worker):
    _last_scheduler_check = 0.0
    jobs_executed = 0

    def __init__(self, *args, **kwargs) -> None:
        # Every job OnTop enqueues is JSON (the GPU tier reads nothing else). django_rq's rqworker
        # passes its own default, pickle, unless `--serializer` is given: a worker started without
        # it could not read a single job, so the class decides, not the command line.
        kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        finally:
            self.jobs_executed += 1

    @property
    def dequeue_timeout(self) -> int:
        # RQ blocks up to worker_ttl - 15 s (405 s) waiting for a job; its loop must come round
        # often enough to check on the scheduler.
        return SCHEDULER_CHECK_SECONDS

    def _set_ip_address(self, connection: redis.Redis) -> None:
        try:
            super()._set_ip_address(connection)
        except REDIS_ERRORS:  # Redis down at start: work() waits for it
            self.ip_address = "unknown"

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None) -> None:
        """RQ's own, with the short-lease scheduler."""
        kwargs = {"date_format": date_format} if date_format else {}
        kwargs |= {"log_format": log_format} if log_format else {}
        self.scheduler = ShortLeaseScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            serializer=self.serializer,
            **kwargs,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            logger.info("another scheduler holds the lock; checking again every %ss", SCHEDULER_CHECK_SECONDS)
            return
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return super().should_run_maintenance_tasks or self._scheduler_check_due()

    def _scheduler_check_due(self) -> bool:
        return self.scheduler is not None and time.monotonic() - self._last_scheduler_check >= SCHEDULER_CHECK_SECONDS

    def run_maintenance_tasks(self) -> None:
        if self._scheduler_check_due():
            self._last_scheduler_check = time.monotonic()
            process = self.scheduler._process
            if process is None or not process.is_alive():
                # Takes the lock once a dead holder's lease ends (or at once, if the dead
                # scheduler was ours: same name), and starts a scheduler process.
                self.scheduler.acquire_locks(auto_start=True)
        if Worker.should_run_maintenance_tasks.fget(self):
            super().run_maintenance_tasks()

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
        attempt = max(failures - 1, 0)
        while not self._stop_requested:
            delay = RECONNECT_BACKOFF_SECONDS[min(attempt, len(RECONNECT_BACKOFF_SECONDS) - 1)]
            deadline = time.monotonic() + delay
            while not self._stop_requested and time.monotonic() < deadline:
                time.sleep(0.1)
            try:
                self.connection.ping()
            except REDIS_ERRORS as exc:
                logger.warning("Redis is unavailable (%s); trying again", exc)
                attempt += 1
                continue
            # Our own record from before the outage, never deregistered: RQ would refuse the name.
            with suppress(*REDIS_ERRORS):
                self.connection.delete(self.key)
            return

    def _drop_subscription(self) -> None:
        """What teardown could not finish: the command channel's thread, so a new one starts clean."""
        thread, self.pubsub_thread = self.pubsub_thread, None
        if thread is not None:
            thread.stop()
            thread.join(timeout=1)
        if self.pubsub is not None:
            with suppress(Exception):
                self.pubsub.close()
