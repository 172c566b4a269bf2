"""Progress pushed to watchers (Server-Sent Events) by the real web server command, from real
publishes: the GPU worker's progress writes and the web tier's state changes.

The web server is `ontop.webserver.web_command` (what `make run` and production start) on a free
port, against this run's database and Redis; the GPU worker is the real one on the tiny preset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import django_rq
import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rq.job import Job
from rq.serializers import JSONSerializer

from generation import selectors
from generation import services as job_services
from gpu_worker.progress import EVENTS_CHANNEL_PREFIX, ProgressReporter
from makeovers.services import makeover_create
from ontop.accounts.services import api_token_create
from ontop.devstack import _port_open, free_port
from ontop.events import CHANNEL_PREFIX
from ontop.webserver import web_command
from tests.conftest import BASE_DIR
from tests.photos import make_desk_photo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _test_database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}"


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": _test_database_url(), "PYTHONUNBUFFERED": "1", **extra}


class Server:
    def __init__(self, tmp_path: Path, *, workers: int | None = None, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"web-{self.port}.log"
        handle = self.log.open("wb")
        self.process = subprocess.Popen(
            web_command("127.0.0.1", self.port, workers=workers),
            cwd=BASE_DIR,
            env=_environment(**env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not _port_open(self.port):
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, "the web server did not come up:\n" + self.output()
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> float:
        """SIGTERM, as systemd stops it; the seconds it took to exit."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return time.monotonic() - started


STREAM_CAP = 5


@pytest.fixture
def server(tmp_path, redis_clean):
    # One worker: the per-user cap is per process, so STREAM_CAP streams all land on it.
    web = Server(tmp_path, workers=1, ONTOP_EVENTS_MAX_STREAMS_PER_USER=str(STREAM_CAP))
    yield web
    web.stop()
    print(web.output())  # shown for a failed test


def _job(owner):
    upload = job_services.upload_create(owner=owner, file=SimpleUploadedFile("desk.jpg", make_desk_photo()))
    return makeover_create(owner=owner, upload=upload, seed=7)


def _events(lines) -> list[tuple[str, dict]]:
    """(id, state) of each `state` event of an SSE line iterator, until the stream ends."""
    events, event_id, kind = [], "", ""
    for line in lines:
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "state":
            events.append((event_id, json.loads(line[6:])))
    return events


def _read_stream(url: str, headers: dict, found: list, done: threading.Event) -> None:
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=60)) as response:
        found.append(response.status_code)
        event_id, kind = "", ""
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "state":
                found.append((time.monotonic(), event_id, json.loads(line[6:])))
    done.set()


def test_channel_names_agree_between_the_tiers():
    assert CHANNEL_PREFIX == EVENTS_CHANNEL_PREFIX == "ontop:events:job:"


def test_a_watcher_follows_a_real_job_from_the_queue_to_the_end(server, user, tmp_path):
    _, token = api_token_create(user=user)
    job = _job(user)
    headers = {"Authorization": f"Token {token}"}
    detail = httpx.get(f"{server.base}/api/makeovers/{job.id}/", headers=headers, timeout=10)
    assert detail.status_code == 200
    polled = detail.json()["state"]
    found: list = []
    done = threading.Event()
    reader = threading.Thread(
        target=_read_stream, args=(f"{server.base}/api/jobs/{job.id}/events/", headers, found, done), daemon=True
    )
    reader.start()
    deadline = time.monotonic() + 10
    while len(found) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found[0] == 200
    assert found[1][2] == polled, "the first event is the same JSON as the API's job state"
    assert found[1][2]["status"] == "queued"
    # Now the real workers: the GPU worker (tiny preset) paints it, the Django worker finalizes it.
    env = _environment(ONTOP_GPU_STEPS="6")
    logs = [(tmp_path / "gpu.log").open("wb"), (tmp_path / "django.log").open("wb")]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "gpu_worker"], cwd=BASE_DIR, env=env, stdout=logs[0], stderr=subprocess.STDOUT
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "default", "--serializer", "rq.serializers.JSONSerializer"],
            cwd=BASE_DIR,
            env=env,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        assert done.wait(240), "the stream did not end: " + (tmp_path / "gpu.log").read_text()[-3000:]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
    states = [state for _, _, state in found[1:]]
    print("events:", [(s["status"], s["stage"], s["percent"]) for s in states])
    ids = [event_id for _, event_id, _ in found[1:]]
    assert len(ids) == len(set(ids)), "no state is sent twice"
    assert states[-1]["status"] == "succeeded"
    assert states[-1]["percent"] == 100.0
    job.refresh_from_db()
    assert states[-1] == asdict(selectors.job_state(job=job)), "the last event is the finished job's state"
    painting = [s["percent"] for s in states if s["status"] == "running" and 0 < s["percent"] < 100]
    assert len(painting) >= 3, f"progress events came while it painted: {states}"
    percents = [s["percent"] for s in states if s["status"] != "queued"]
    assert percents == sorted(percents), "progress never goes backwards"


def test_someone_elses_job_is_404_and_no_token_is_401(server, user, other_user, client, settings):
    job = _job(user)
    url = f"{server.base}/api/jobs/{job.id}/events/"
    _, other_token = api_token_create(user=other_user)

    response = httpx.get(url, headers={"Authorization": f"Token {other_token}"}, timeout=10)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = httpx.get(url, timeout=10)
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Token"
    response = httpx.get(url, headers={"Authorization": "Token not-a-real-token"}, timeout=10)
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    missing = f"{server.base}/api/jobs/00000000-0000-0000-0000-000000000000/events/"
    _, token = api_token_create(user=user)
    response = httpx.get(missing, headers={"Authorization": f"Token {token}"}, timeout=10)
    assert response.status_code == 404
    # Ids the path pattern lets through but that are no UUID: the API's own JSON 404, not a 500.
    api_404 = httpx.get(f"{server.base}/api/nothing-here/", timeout=10)
    expected = {"code": "not_found", "message": "We couldn't find that. It may have been deleted."}
    assert (api_404.status_code, api_404.json()) == (404, expected)
    for bad in ("-" * 36, "0" * 31 + "-", "a" * 34):
        response = httpx.get(f"{server.base}/api/jobs/{bad}/events/", headers={"Authorization": f"Token {token}"})
        assert (response.status_code, response.headers["content-type"]) == (404, "application/json"), bad
        assert response.json() == expected, bad
    response = httpx.get(f"{server.base}/api/jobs/{'-' * 36}/events/", headers={"Accept-Language": "ko"})
    assert response.json() == {"code": "not_found", "message": "찾을 수 없어요. 삭제되었을 수 있어요."}
    # The website's session works too (job.js opens the stream with the browser's cookie).
    client.force_login(user)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    with httpx.stream("GET", url, cookies=cookies, headers={"Accept-Language": "ko"}, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        lines = response.iter_lines()
        assert next(lines) == "retry: 3000"
        assert next(lines) == ""
        assert next(lines).startswith("id: ")
        assert next(lines) == "event: state"
        state = json.loads(next(lines)[6:])
    assert (state["status"], state["status_label"]) == ("queued", "대기 중")


def test_a_published_event_reaches_a_watcher_within_a_second(server, user):
    """The GPU worker's own publish (ProgressReporter on the job's real RQ record) → the watcher."""
    _, token = api_token_create(user=user)
    job = _job(user)
    rq_job = Job.fetch(job.gpu_rq_job_id, connection=django_rq.get_connection("default"), serializer=JSONSerializer)
    reporter = ProgressReporter(rq_job, min_interval=0)
    found: list = []
    done = threading.Event()
    headers = {"Authorization": f"Token {token}"}
    # The id without its dashes (the pattern allows it): still woken by events on str(job.id).
    url = f"{server.base}/api/jobs/{job.id.hex}/events/"
    threading.Thread(target=_read_stream, args=(url, headers, found, done), daemon=True).start()
    deadline = time.monotonic() + 10
    while len(found) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert found[1][2]["status"] == "queued"
    latencies = []
    for step in range(1, 9):
        seen = len(found)
        published = time.monotonic()
        reporter.report("painting", step * 10.0, step=step, total_steps=10)
        while len(found) == seen and time.monotonic() < published + 5:
            time.sleep(0.001)
        received, _, state = found[-1]
        assert (state["status"], state["percent"], state["step"]) == ("running", step * 10.0, step)
        latencies.append(received - published)
        time.sleep(0.3)
    print(f"publish → receive: median {sorted(latencies)[4] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0, latencies
    # A web-tier state change (cancel) reaches it too, and ends the stream.
    job_services.job_cancel(job=job)
    assert done.wait(5)
    assert found[-1][2]["status"] == "cancelled"


def test_streams_per_user_are_capped_per_process(server, user, other_user):
    """STREAM_CAP open streams for one person; the next is a JSON 429 (another person is not
    affected), and a closed stream frees its place."""
    _, token = api_token_create(user=user)
    _, other_token = api_token_create(user=other_user)
    job, other_job = _job(user), _job(other_user)
    asyncio.run(_cap_streams(server.base, token, job, other_token, other_job))


async def _cap_streams(base: str, token: str, job, other_token: str, other_job) -> None:
    url = f"{base}/api/jobs/{job.id}/events/"
    headers = {"Authorization": f"Token {token}"}
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=httpx.Timeout(10, read=30)))
        streams = []
        for _ in range(STREAM_CAP):
            response = await stack.enter_async_context(client.stream("GET", url, headers=headers))
            lines = response.aiter_lines()  # kept: a dropped line iterator closes its response
            assert (response.status_code, await anext(lines)) == (200, "retry: 3000")
            streams.append((response, lines))
        async with client.stream("GET", url, headers=headers) as refused:
            assert refused.status_code == 429
            await refused.aread()
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "10")
        assert refused.headers["content-type"] == "application/json"
        message = "Too many progress streams are open. Close some pages and try again."
        assert refused.json() == {"code": "throttled", "message": message}
        other_url = f"{base}/api/jobs/{other_job.id}/events/"
        async with client.stream("GET", other_url, headers={"Authorization": f"Token {other_token}"}) as other:
            assert other.status_code == 200
        response, lines = streams.pop()
        await lines.aclose()
        await response.aclose()
        deadline = time.monotonic() + 5  # the server sees the disconnect at once; 5 s for a busy machine
        while True:
            async with client.stream("GET", url, headers=headers) as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
            await asyncio.sleep(0.05)
        assert again.status_code == 200


def test_a_database_that_is_down_is_a_json_503_and_not_a_text_500(tmp_path, user, redis_clean):
    from ontop.middleware import RETRY_AFTER_SECONDS

    job = _job(user)
    _, token = api_token_create(user=user)
    # Nothing listens there: every query of the server fails to connect.
    web = Server(tmp_path, workers=1, DATABASE_URL=f"postgres://ontop:x@127.0.0.1:{free_port()}/ontop")
    try:
        response = httpx.get(
            f"{web.base}/api/jobs/{job.id}/events/", headers={"Authorization": f"Token {token}"}, timeout=30
        )
        assert (response.status_code, response.headers["content-type"]) == (503, "application/json"), web.output()
        assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        busy = {"code": "service_busy", "message": "Our servers are busy right now. Please try again in a minute."}
        assert response.json() == busy
    finally:
        web.stop()


def test_a_stopping_server_ends_open_streams_at_once(tmp_path, user, redis_clean):
    web = Server(tmp_path)
    _, token = api_token_create(user=user)
    job = _job(user)
    found: list = []
    done = threading.Event()
    headers = {"Authorization": f"Token {token}"}
    threading.Thread(
        target=_read_stream, args=(f"{web.base}/api/jobs/{job.id}/events/", headers, found, done), daemon=True
    ).start()
    deadline = time.monotonic() + 10
    while len(found) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found[0] == 200
    took = web.stop()
    assert done.wait(1), "the stream ended with the server"
    assert web.process.returncode == 0, web.output()
    assert took < 10, f"SIGTERM to exit took {took:.1f} s with a stream open (gunicorn would wait 20 s)"


def _pubsub_clients(redis) -> list[dict]:
    return [c for c in redis.client_list() if c.get("name", "").startswith("ontop-events-")]


def test_200_watchers_on_one_process_share_one_pubsub_connection(tmp_path, user, redis_clean):
    web = Server(tmp_path, workers=1, ONTOP_EVENTS_MAX_STREAMS_PER_USER="200")
    try:
        (worker_pid,) = web.worker_pids()
        _, token = api_token_create(user=user)
        jobs = [_job(user) for _ in range(4)]
        redis = redis_clean
        before = len(redis.client_list())
        asyncio.run(_watch_many(web.base, token, jobs, redis, worker_pid, before))
    finally:
        web.stop()


async def _watch_many(base: str, token: str, jobs, redis, worker_pid: int, before: int) -> None:
    watchers = 200
    limits = httpx.Limits(max_connections=watchers + 10, max_keepalive_connections=0)
    headers = {"Authorization": f"Token {token}"}
    received: list[list[dict]] = [[] for _ in range(watchers)]
    opened = asyncio.Event()

    async def watch(index: int, client: httpx.AsyncClient) -> None:
        job = jobs[index % len(jobs)]
        async with client.stream("GET", f"{base}/api/jobs/{job.id}/events/", headers=headers) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received[index].append(json.loads(line[6:]))
                    if sum(1 for r in received if r) == watchers:
                        opened.set()

    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30, read=120)) as client:
        tasks = [asyncio.create_task(watch(index, client)) for index in range(watchers)]
        await asyncio.wait_for(opened.wait(), 60)
        clients = _pubsub_clients(redis)
        assert [(c["name"], c["psub"], c["sub"]) for c in clients] == [(f"ontop-events-{worker_pid}", "1", "0")]
        # 200 open streams and what the server holds for them: the pub/sub connection, and the
        # pooled connections of its few reader threads and Django's threads; not one per watcher.
        grown = len(redis.client_list()) - before
        assert grown <= 1 + 4 + 4 + 2, f"{grown} more Redis connections for {watchers} watchers"
        # One publish per job reaches every watcher of it.
        published = time.monotonic()
        for job in jobs:
            rq_job = Job.fetch(job.gpu_rq_job_id, connection=redis, serializer=JSONSerializer)
            ProgressReporter(rq_job).report("painting", 50.0, step=5, total_steps=10)
        while time.monotonic() < published + 10 and not all(r[-1]["percent"] == 50.0 for r in received):
            await asyncio.sleep(0.01)
        spread = time.monotonic() - published
        assert all(r[-1]["percent"] == 50.0 for r in received)
        print(f"one event per job reached all {watchers} watchers in {spread * 1000:.0f} ms")
        assert spread < 1.0, spread  # one batched read for all 200 (about 60 ms on the shared 2 cores)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_the_job_page_follows_the_stream_in_a_real_browser(server, user, client, settings):
    """job.js opens the stream (no polling while it works), moves the bar on a published event,
    reconnects by itself when the server's worker dies (no polling then either), polls when the
    stream is refused, and reloads into the final page when the job ends."""
    from selenium.webdriver.common.by import By

    from tests.test_browser import _wait_for, chromium_driver

    job = _job(user)
    client.force_login(user)
    rq_job = Job.fetch(job.gpu_rq_job_id, connection=django_rq.get_connection("default"), serializer=JSONSerializer)
    reporter = ProgressReporter(rq_job, min_interval=0)
    events_path, status_path = f"/api/jobs/{job.id}/events/", f"/jobs/{job.id}/status/"
    _, token = api_token_create(user=user)
    browser = chromium_driver()
    try:
        browser.get(server.base + "/accounts/login/")
        browser.add_cookie(
            {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
        )
        # Refused (this person holds every stream the process allows): the page polls instead.
        headers = {"Authorization": f"Token {token}"}
        with httpx.Client(timeout=10) as api, contextlib.ExitStack() as held:
            for _ in range(STREAM_CAP):
                stream = held.enter_context(api.stream("GET", server.base + events_path, headers=headers))
                assert stream.status_code == 200
            browser.get(f"{server.base}/makeovers/{job.id}/")
            _wait_for(lambda: status_path in server.log.read_text(), timeout=10, what="polling after a 429")
            reporter.report("painting", 30.0, step=3, total_steps=10)
            bar = browser.find_element(By.CSS_SELECTOR, "[role=progressbar]")
            _wait_for(lambda: bar.get_attribute("aria-valuenow") == "30", timeout=10, what="the bar at 30 % by polling")
        streams_before = server.log.read_text().count(events_path)
        browser.get(f"{server.base}/makeovers/{job.id}/")
        _wait_for(lambda: server.log.read_text().count(events_path) > streams_before, timeout=10, what="the stream")
        bar = browser.find_element(By.CSS_SELECTOR, "[role=progressbar]")
        _wait_for(lambda: bar.get_attribute("aria-valuenow") == "30", timeout=5, what="the first event")
        time.sleep(1.5)  # a poll of the previous page still in flight may yet be logged
        seen = len(server.log.read_text())
        published = time.monotonic()
        reporter.report("painting", 42.0, step=4, total_steps=10)
        _wait_for(lambda: bar.get_attribute("aria-valuenow") == "42", timeout=5, what="the bar at 42 %")
        moved = time.monotonic() - published
        assert moved < 1.0, f"the bar moved {moved:.2f} s after the publish"
        # The worker dies (a crash; a deploy ends streams the same way): EventSource reconnects by
        # itself (retry: 3 s) to the worker gunicorn starts in its place; nothing polls.
        streams_before = server.log.read_text().count(events_path)
        for pid in server.worker_pids():
            os.kill(pid, signal.SIGKILL)
        _wait_for(
            lambda: server.log.read_text().count(events_path) > streams_before,
            timeout=30,  # a new worker boots Django: seconds on the shared 2 cores
            what="the reconnected stream",
        )
        reporter.report("painting", 70.0, step=7, total_steps=10)
        _wait_for(lambda: bar.get_attribute("aria-valuenow") == "70", timeout=5, what="the bar at 70 %")
        assert status_path not in server.log.read_text()[seen:], "no polling while the stream works"
        job_services.job_cancel(job=job)
        _wait_for(lambda: "Cancelled" in browser.find_element(By.ID, "job-status").text, timeout=10, what="the end")
    finally:
        browser.quit()
