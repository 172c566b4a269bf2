"""Prometheus metrics of the web tier, served at /metrics (deploy/monitoring/ scrapes it).

- Requests: django-prometheus's middleware (`django_http_*`: rate, latency and errors per view).
- Jobs: `ontop_jobs_finished_total{kind,status}` and `ontop_jobs_failed_total{kind,error_code}`,
  counted where generation.services records an outcome (the Django worker, usually).
- Naver: `ontop_naver_*` counted in shop.naver.search; the day's budget left is read at scrape time.
  Both are counted in Redis (SharedCounter), not in the process: see there why.
- Queues: depth and oldest-job age per RQ queue, read from Redis at scrape time (QueueCollector);
  also the GPU workers' recycles, which they count in Redis because a recycling process exits.

Several processes (gunicorn's uvicorn workers) count requests into the same metrics. With
PROMETHEUS_MULTIPROC_DIR set (`make run` sets it; production units must too, one directory per web
machine, emptied before the processes start) every process writes its counters there and any web
process serves the machine's sum. Without it the process's own registry is served: right for one
process (tests), wrong for several. What is read from Redis or the database (queues, job outcomes,
Naver) is the same on every web machine: the dashboard takes `max` of it across instances.

/metrics answers only the addresses in ONTOP_METRICS_ALLOWED_IPS (default: this machine) or a
request with `Authorization: Bearer <ONTOP_METRICS_TOKEN>`; anyone else gets 403. A request that
came through a reverse proxy (X-Forwarded-For, Forwarded or X-Real-IP) needs the token whatever
its address: behind a proxy on the same machine every request's address is 127.0.0.1.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.translation import gettext as _
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# The classic text format, which every Prometheus 2.x and 3.x reads (our names are all plain ASCII).
EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Written by gpu_worker/metrics.py (the GPU tier cannot import this module): worker name -> recycles.
GPU_RECYCLES_KEY = "ontop:metrics:gpu-recycles"


@dataclass(frozen=True)
class SharedCounter:
    """A counter kept in Redis (HINCRBY), read at scrape time. Job outcomes and Naver searches are
    counted by the Django worker's work horses, one forked process per job: prometheus_client's
    multiprocess mode would leave one file per job in PROMETHEUS_MULTIPROC_DIR, read on every
    scrape. Redis is shared by every process and machine of the web tier, so any web process
    serves the same totals (scrape one web process per deployment, not each)."""

    name: str  # without _total
    documentation: str
    labels: tuple[str, ...]
    # Series that exist from the start (at 0), so a dashboard's rate() has something to work on.
    initial: tuple[tuple[str, ...], ...] = ()

    @property
    def key(self) -> str:
        return f"ontop:metrics:{self.name}"

    def inc(self, *values: str) -> None:
        """Never fails its caller: a lost count is better than a lost job outcome."""
        from redis import RedisError

        from ontop.redis_pool import connection

        try:
            connection().hincrby(self.key, _SEPARATOR.join(values), 1)
        except RedisError as exc:
            logger.warning("metrics: could not count %s%s: %s", self.name, values, exc)

    def family(self, stored: dict[bytes, bytes]) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=list(self.labels))
        counts = {tuple(k.decode(errors="replace").split(_SEPARATOR)): int(v) for k, v in stored.items()}
        for values in self.initial:
            counts.setdefault(values, 0)
        for values, count in sorted(counts.items()):
            if len(values) == len(self.labels):
                family.add_metric(list(values), count)
        return family


_SEPARATOR = "\x1f"  # the ASCII unit separator: never inside a kind, status, code or source

JOBS_FINISHED = SharedCounter(
    "ontop_jobs_finished",
    "Jobs that reached a final state, by kind and status (succeeded, failed, cancelled).",
    ("kind", "status"),
)
JOBS_FAILED = SharedCounter(
    "ontop_jobs_failed", "Failed jobs by kind and error code (the JobResult's code).", ("kind", "error_code")
)
NAVER_SEARCHES = SharedCounter(
    "ontop_naver_searches",
    "Shop searches by where the items came from: naver (a real call), cache, stale-cache, none.",
    ("source",),
    initial=(("naver",), ("cache",), ("stale-cache",), ("none",)),
)
NAVER_CALLS = SharedCounter(
    "ontop_naver_calls",
    "Real calls to Naver's Shopping Search API by outcome (ok or the error).",
    ("outcome",),
    initial=(("ok",),),
)
NAVER_FALLBACKS = SharedCounter(
    "ontop_naver_fallbacks",
    "Searches that did not get fresh items from Naver, by reason (not_configured, budget_spent, error).",
    ("reason",),
    initial=(("not_configured",), ("budget_spent",), ("error",)),
)
SHARED_COUNTERS = (JOBS_FINISHED, JOBS_FAILED, NAVER_SEARCHES, NAVER_CALLS, NAVER_FALLBACKS)


def job_outcome_record(*, kind: str, status: str, error_code: str = "") -> None:
    """Count one job reaching a final state (called once per state change, never for a no-op)."""
    JOBS_FINISHED.inc(kind, status)
    if status == "failed":
        JOBS_FAILED.inc(kind, error_code or "unknown")


def naver_search_record(*, source: str, fallback: str = "", call_outcome: str = "") -> None:
    NAVER_SEARCHES.inc(source)
    if fallback:
        NAVER_FALLBACKS.inc(fallback)
    if call_outcome:
        NAVER_CALLS.inc(call_outcome)


class QueueCollector(Collector):
    """Read at scrape time: Redis is the truth for queues; a counter kept in a process would drift."""

    def collect(self) -> Iterator:
        import django_rq
        from redis import RedisError

        depth = GaugeMetricFamily("ontop_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "ontop_queue_oldest_job_age_seconds",
            "Age of the oldest waiting job per queue (0: empty).",
            labels=["queue"],
        )
        running = GaugeMetricFamily("ontop_queue_running_jobs", "Jobs being worked on per queue.", labels=["queue"])
        recycles = CounterMetricFamily(
            "ontop_gpu_worker_recycles",
            "GPU worker processes that exited to free memory, by worker.",
            labels=["worker"],
        )
        up = GaugeMetricFamily("ontop_redis_up", "Whether this scrape could read Redis (1) or not (0).")
        try:
            now = time.time()
            connection = None
            for name in settings.RQ_QUEUES:
                queue = django_rq.get_queue(name)
                connection = queue.connection
                depth.add_metric([name], queue.count)
                age.add_metric([name], _oldest_age(queue, now))
                running.add_metric([name], queue.started_job_registry.count)
            for worker, count in (connection.hgetall(GPU_RECYCLES_KEY) if connection else {}).items():
                recycles.add_metric([worker.decode(errors="replace")], int(count))
            counters = [c.family(connection.hgetall(c.key) if connection else {}) for c in SHARED_COUNTERS]
        except RedisError as exc:
            logger.warning("metrics: Redis unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (depth, age, running, recycles, *counters, up)


def _oldest_age(queue, now: float) -> float:
    """Seconds since the job at the head of the queue was enqueued (RQ keeps it in the job's hash)."""
    from rq.utils import utcparse

    head = queue.get_job_ids(0, 1)
    if not head:
        return 0.0
    raw = queue.connection.hget(queue.job_class.key_for(head[0]), "enqueued_at")
    if not raw:
        return 0.0
    try:
        return max(0.0, now - utcparse(raw.decode()).timestamp())
    except ValueError:
        return 0.0


class NaverBudgetCollector(Collector):
    def collect(self) -> Iterator:
        from django.apps import apps
        from django.db import DatabaseError
        from django.utils import timezone

        # By name: the job engine imports this module, and it never imports a product app.
        NaverApiUsage = apps.get_model("shop", "NaverApiUsage")

        limit = settings.NAVER_DAILY_CALL_LIMIT
        try:
            used = NaverApiUsage.objects.filter(day=timezone.localdate()).values_list("calls", flat=True).first() or 0
        except DatabaseError as exc:
            logger.warning("metrics: database unavailable: %s", exc)
            return
        left = GaugeMetricFamily("ontop_naver_budget_left", "Naver calls left today (Asia/Seoul day).")
        left.add_metric([], max(0, limit - used))
        yield left
        yield GaugeMetricFamily("ontop_naver_budget_limit", "NAVER_DAILY_CALL_LIMIT.", value=limit)


def _scrape_collectors() -> list[Collector]:
    return [QueueCollector(), NaverBudgetCollector()]


def registry_for_scrape() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistry())
    for collector in _scrape_collectors():
        registry.register(collector)
    return registry


class _DefaultRegistry(Collector):
    """This process's own metrics (one process: tests, `manage.py` commands)."""

    def collect(self) -> Iterator:
        yield from REGISTRY.collect()


# Headers a reverse proxy adds: a request that came through one is from the internet, whatever
# REMOTE_ADDR says (a proxy on this machine makes every request look local).
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape endpoint (text exposition format)."""
    if not allowed(request):
        return HttpResponseForbidden(
            _("Metrics are served only to allowed addresses or with the metrics token."), content_type="text/plain"
        )
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=EXPOSITION_CONTENT_TYPE)
