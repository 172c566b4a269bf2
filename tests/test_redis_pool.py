"""One Redis connection pool per process (ontop/redis_pool.py), on the real Redis.

The status poll used to open a new TCP connection every time (django_rq built a new client, with a
pool of its own, per call). Now the cache (and so DRF's throttles), RQ and the progress reads borrow
from one pool per process, made at first use; a forked child makes its own.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from datetime import timedelta

import django_rq
import pytest
import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.test import Client
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from generation import dispatch
from generation.models import GenerationJob
from gpu_worker.contract import PROGRESS_META_KEY, Progress
from ontop import redis_pool
from ontop.accounts.services import api_token_issue
from tests.conftest import BASE_DIR
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)


def _connections_received(probe: redis.Redis) -> int:
    return probe.info("stats")["total_connections_received"]


def _fresh_pool() -> None:
    """Count from nothing: the next Redis call in this process makes a new pool."""
    redis_pool.connection_pool().disconnect()
    redis_pool._pools.clear()


def _pool_size() -> int:
    pool = redis_pool.connection_pool()
    return len(pool._available_connections) + len(pool._in_use_connections)


@pytest.fixture
def probe(redis_clean):
    """A client of its own, connected before anything is counted: its INFO calls open nothing new."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def api(client, user, settings):
    settings.DAILY_GENERATION_LIMIT = 1000
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    return client


def _painting_makeover(api) -> str:
    from rq.job import JobStatus

    upload_id = api.post("/api/uploads/", {"photo": io.BytesIO(make_desk_photo())}).json()["id"]
    job_id = api.post("/api/makeovers/", {"upload_id": upload_id}, content_type="application/json").json()["id"]
    rq_job = dispatch.gpu_job_fetch(GenerationJob.objects.get(pk=job_id).gpu_rq_job_id)
    rq_job.started_at = timezone.now() - timedelta(seconds=10)
    rq_job.meta[PROGRESS_META_KEY] = Progress(
        stage="painting", percent=40.0, step=8, total_steps=20, updated_at=time.time()
    ).to_dict()
    rq_job.save()
    rq_job.set_status(JobStatus.STARTED)
    return job_id


def test_the_cache_the_throttles_rq_and_progress_reads_share_one_pool(redis_clean):
    pool = redis_pool.connection_pool()
    assert isinstance(pool, redis.ConnectionPool)
    assert redis_pool.connection_pool() is pool, "made once, then reused"
    assert caches["default"]._cache.get_client(write=False).connection_pool is pool
    assert caches["default"]._cache.get_client(write=True).connection_pool is pool
    assert SimpleRateThrottle.cache is cache  # DRF's throttles keep their counts in the default cache
    assert SimpleRateThrottle.cache._cache.get_client().connection_pool is pool
    assert django_rq.get_connection("default").connection_pool is pool
    assert django_rq.get_queue("default").connection.connection_pool is pool
    assert django_rq.get_queue("gpu").connection.connection_pool is pool
    assert dispatch._connection().connection_pool is pool


def test_fifty_status_polls_open_one_connection(api, user, probe):
    job_id = _painting_makeover(api)
    web = Client()
    web.force_login(user)
    _fresh_pool()
    before = _connections_received(probe)
    for _ in range(50):
        response = web.get(f"/jobs/{job_id}/status/")
        assert response.status_code == 200
        assert response.json()["stage"] == "painting"
    # Sequential requests in one process: the first borrows a new connection and gives it back,
    # every later one borrows that same connection.
    assert _connections_received(probe) - before == 1
    assert _pool_size() == 1


def test_throttles_rq_and_progress_reads_go_through_the_same_connection(api, user, probe):
    """An API list (throttle counts and job states), a new makeover (RQ enqueues), a status poll and a
    cancel (RQ): all of it over the one pool's connections, none opened twice."""
    job_id = _painting_makeover(api)
    web = Client()
    web.force_login(user)
    _fresh_pool()
    before = _connections_received(probe)
    commands_before = probe.info("commandstats")
    assert api.get("/api/makeovers/").status_code == 200
    # The list (throttle counts, the job states' one pipeline): one connection, given back.
    assert (_connections_received(probe) - before, _pool_size()) == (1, 1)
    upload_id = api.post("/api/uploads/", {"photo": io.BytesIO(make_desk_photo())}).json()["id"]
    created = api.post("/api/makeovers/", {"upload_id": upload_id}, content_type="application/json")
    assert created.status_code == 201
    # RQ's enqueue of a job with a dependency holds a pipeline while it reads on a second connection.
    assert (_connections_received(probe) - before, _pool_size()) == (2, 2)
    assert web.get(f"/jobs/{job_id}/status/").status_code == 200
    assert api.post(f"/api/makeovers/{created.json()['id']}/cancel/").status_code == 200
    # RQ's cancel with its dependents holds three at once. Every connection the pool made was reused
    # afterwards: what the server received is exactly the pool's size.
    assert (_connections_received(probe) - before, _pool_size()) == (3, 3)
    commands = probe.info("commandstats")

    def calls(name: str) -> int:
        return commands.get(f"cmdstat_{name}", {}).get("calls", 0) - commands_before.get(f"cmdstat_{name}", {}).get(
            "calls", 0
        )

    # The throttles wrote their counts (SET), RQ enqueued the GPU job (a MULTI/EXEC transaction):
    # all of it over that one connection.
    assert calls("set") >= 4
    assert calls("exec") >= 1


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(redis_clean):
    parent = redis_pool.connection()
    parent_id = parent.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child (a gunicorn worker after the fork): no Django, no database here
        code = 1
        try:
            os.close(read)
            child_id = redis_pool.connection().client_id()
            os.write(write, str(child_id).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child_id = int(os.read(read, 64).decode())
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id != parent_id, "the child must not talk over the parent's socket"
    assert parent.client_id() == parent_id, "the parent's connection is still open and still its own"


def test_no_pool_is_made_at_import(redis_clean):
    """A gunicorn master that imports the site before forking must hold no Redis connection."""
    script = (
        "import django; django.setup(); import ontop.urls, ontop.wsgi; from ontop import redis_pool; "
        "print(len(redis_pool._pools))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "ontop.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
