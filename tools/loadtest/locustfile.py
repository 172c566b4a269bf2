"""Many people at once: each is signed in, watches their running makeover, and browses their history
and the shop with about 5 s between page views.

LOADTEST_DESIGN picks how a person's open job page hears about progress:
- `push`: one Server-Sent Events stream (GET /api/jobs/<id>/events/), as job.js now does;
- `poll`: GET /jobs/<id>/status/ each second after the previous answer, as job.js did before.
Either way the time from the GPU worker's publish to the watcher seeing it is recorded as the
request kind "progress event (publish → seen)"; its "response time" is that latency.

Run by tools/loadtest/run.py (which seeds the people and the progress); LOADTEST_PEOPLE names the
seeded people file.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import gevent
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

DESIGN = os.environ.get("LOADTEST_DESIGN", "push")
# "watch": people only watch their job (no page views): what watching alone costs the server.
BROWSE = os.environ.get("LOADTEST_SCENARIO", "full") != "watch"
POLL_SECONDS = 1.0  # job.js's POLL_MS before the stream
STAMP_MODULO = 1_000_000_000
LATENCY_NAME = "progress event (publish → seen)"
PEOPLE = [json.loads(line) for line in Path(os.environ["LOADTEST_PEOPLE"]).read_text().splitlines() if line.strip()]
_next_person = itertools.count()
PRODUCT_IDS: list[int] = []


def _latency_ms(step: int) -> float:
    return ((int(time.time() * 1000) % STAMP_MODULO) - step) % STAMP_MODULO


def _record(environment, name: str, milliseconds: float, length: int = 0, exception=None) -> None:
    environment.events.request.fire(
        request_type="EVENT" if name == LATENCY_NAME else "GET",
        name=name,
        response_time=milliseconds,
        response_length=length,
        exception=exception,
        context={},
    )


class Person(FastHttpUser):
    wait_time = between(4, 6)

    def on_start(self) -> None:
        person = PEOPLE[next(_next_person) % len(PEOPLE)]
        self.job = person["job"]
        self.cookie = f"sessionid={person['session']}"
        self.client.headers = {"Cookie": self.cookie}  # fasthttp sends these with every request
        self.last_step = None
        self.watcher = gevent.spawn(self._watch_stream if DESIGN == "push" else self._watch_by_polling)

    def on_stop(self) -> None:
        self.watcher.kill(block=False)

    # --- browsing ---------------------------------------------------------------------------
    @task(2)
    def job_page(self) -> None:
        if not BROWSE:
            return
        self.client.get(f"/makeovers/{self.job}/", name="GET /makeovers/[id]/ (job page)", headers=self._headers())

    @task(2)
    def history(self) -> None:
        if not BROWSE:
            return
        self.client.get("/makeovers/", name="GET /makeovers/ (history)", headers=self._headers())

    @task(1)
    def history_api(self) -> None:
        if not BROWSE:
            return
        self.client.get("/api/makeovers/", name="GET /api/makeovers/ (history, app)", headers=self._headers())

    @task(2)
    def shop(self) -> None:
        if not BROWSE:
            return
        with self.client.get("/shop/", name="GET /shop/", headers=self._headers(), catch_response=True) as response:
            if not PRODUCT_IDS and response.status_code == 200:
                import re

                PRODUCT_IDS.extend(int(i) for i in set(re.findall(r"/shop/p/(\d+)/", response.text or "")))

    @task(1)
    def product(self) -> None:
        if not BROWSE:
            return
        if PRODUCT_IDS:
            product = random.choice(PRODUCT_IDS)
            self.client.get(f"/shop/p/{product}/", name="GET /shop/p/[id]/", headers=self._headers())

    def _headers(self) -> dict:
        return {"Cookie": self.cookie, "Accept-Language": "ko"}

    # --- watching the job -------------------------------------------------------------------
    def _seen(self, state: dict) -> None:
        step = state.get("step")
        if state.get("status") == "running" and step and step != self.last_step:
            if self.last_step is not None:  # the first one was published before we looked
                _record(self.environment, LATENCY_NAME, _latency_ms(step))
            self.last_step = step

    def _watch_by_polling(self) -> None:
        while True:
            with self.client.get(
                f"/jobs/{self.job}/status/",
                name="GET /jobs/[id]/status/ (poll)",
                headers={**self._headers(), "Accept": "application/json"},
                catch_response=True,
            ) as response:
                if response.status_code == 200:
                    self._seen(response.json())
            gevent.sleep(POLL_SECONDS)

    def _watch_stream(self) -> None:
        """A raw socket (gevent's): an EventSource reads each event as it comes, and so must we."""
        host = urlsplit(self.host)
        name = "GET /api/jobs/[id]/events/ (stream opened)"
        while True:
            started, sock = time.monotonic(), None
            try:
                sock = socket.create_connection((host.hostname, host.port or 80), timeout=60)
                request = (
                    f"GET /api/jobs/{self.job}/events/ HTTP/1.1\r\nHost: {host.netloc}\r\nCookie: {self.cookie}\r\n"
                    "Accept: text/event-stream\r\nAccept-Language: ko\r\n\r\n"
                )
                sock.sendall(request.encode())
                stream = sock.makefile("rb")
                status_line = stream.readline().decode()
                if " 200 " not in status_line:
                    raise ConnectionError(status_line.strip() or "no answer")
                while stream.readline() not in (b"\r\n", b""):
                    pass  # headers
                _record(self.environment, name, (time.monotonic() - started) * 1000)
                buffer = b""
                while True:
                    size = int(stream.readline().strip() or b"0", 16)  # chunked transfer encoding
                    if size == 0:
                        break
                    buffer += stream.read(size)
                    stream.readline()
                    *events_, buffer = buffer.split(b"\n\n")
                    for event in events_:
                        for line in event.split(b"\n"):
                            if line.startswith(b"data: "):
                                self._seen(json.loads(line[6:]))
            except (OSError, ValueError) as exc:
                _record(self.environment, name, (time.monotonic() - started) * 1000, exception=exc)
                gevent.sleep(3)  # the stream's retry:
            finally:
                if sock is not None:
                    sock.close()


@events.init.add_listener
def _announce(environment, **_kwargs) -> None:
    print(f"load test: design={DESIGN}, {len(PEOPLE)} seeded people")
