"""The asynchronous half: Server-Sent Events streams of job states, fed by one Redis pub/sub
connection per process.

A watcher costs an open socket and a few objects while nothing happens; the work is done only
when its job's channel says something changed (or, while it waits in line, every few seconds:
the queue moves without telling each job). Database and Redis reads go to a small thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ontop.env import env_int
from ontop.events import CHANNEL_PREFIX

logger = logging.getLogger(__name__)

EVENTS_PATH = re.compile(r"^/api/jobs/(?P<job_id>[0-9a-fA-F-]{32,36})/events/$")
HEARTBEAT_SECONDS = 15.0  # a comment line, so proxies and phones keep an idle stream open
QUEUED_REFRESH_SECONDS = 5.0  # while queued: the position moves without an event of its own
RESYNC_SECONDS = 60.0  # a running job re-read now and then, should an event have been lost
SYNC_THREADS = 4
# Open streams one person may hold on one web process (a page per tab, an app or two): more is a
# 429, so that one client cannot hold every socket and thread-pool slot of the process.
MAX_STREAMS_PER_USER = env_int("ONTOP_EVENTS_MAX_STREAMS_PER_USER", 20, minimum=1, maximum=100_000)
THROTTLED_RETRY_AFTER_SECONDS = 10


class Watcher:
    __slots__ = ("closed", "job_id", "reload", "wake")

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.wake = asyncio.Event()
        self.reload = False
        self.closed = False

    def notify(self, *, reload: bool) -> None:
        self.reload = self.reload or reload
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class Hub:
    """One per process: the pattern subscription, the watchers by job, the thread pool."""

    def __init__(self, redis_url: str, *, threads: int = SYNC_THREADS) -> None:
        self.redis_url = redis_url
        self.watchers: dict[str, set[Watcher]] = {}
        self.streams_by_user: dict[int, int] = {}  # open streams per user (MAX_STREAMS_PER_USER)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ontop-events")
        self.ready = asyncio.Event()
        self.closing = False
        self._task: asyncio.Task | None = None
        self._reads: list[tuple[Any, bool, asyncio.Future]] = []
        self._reader: asyncio.Task | None = None

    def add(self, job_id: str) -> Watcher:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen())
        watcher = Watcher(job_id)
        self.watchers.setdefault(job_id, set()).add(watcher)
        return watcher

    def remove(self, watcher: Watcher) -> None:
        watchers = self.watchers.get(watcher.job_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self.watchers[watcher.job_id]

    async def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(function, *args, **kwargs))

    async def read(self, watch, *, reload: bool) -> dict:
        """The watched job's state now. Reads asked for while one is under way are done together in
        the next (one thread hop, one Redis round trip, at most one query for all of them): under
        load the batches grow instead of the queue."""
        future = asyncio.get_running_loop().create_future()
        self._reads.append((watch, reload, future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_batches())
        return await future

    async def _read_batches(self) -> None:
        from ontop.events import snapshot

        while self._reads:
            batch, self._reads = self._reads, []
            try:
                states = await self.run(snapshot.watch_states, [(watch, reload) for watch, reload, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each stream decides (it keeps its last state)
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), state in zip(batch, states, strict=True):
                if not future.done():
                    future.set_result(state)

    async def wait_ready(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.ready.wait()

    def close_all(self) -> None:
        """The server is stopping: every stream ends now (clients reconnect, to the next server)."""
        self.closing = True
        for watchers in list(self.watchers.values()):
            for watcher in list(watchers):
                watcher.close()

    def _wake_all(self, *, reload: bool) -> None:
        for watchers in list(self.watchers.values()):
            for watcher in watchers:
                watcher.notify(reload=reload)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        job_id = channel[len(CHANNEL_PREFIX) :].decode(errors="replace")
        watchers = self.watchers.get(job_id)
        if not watchers:
            return  # someone else's job: this process serves nobody who watches it
        try:
            kind = json.loads(data).get("type")
        except (ValueError, AttributeError):
            kind = None
        for watcher in watchers:
            # Progress is in Redis (no database read); anything else changed the job's row.
            watcher.notify(reload=kind != "progress")

    async def _listen(self) -> None:
        backoff, reconnecting = 0.5, False
        while True:
            client = aioredis.Redis.from_url(
                self.redis_url, client_name=f"ontop-events-{os.getpid()}", health_check_interval=30
            )
            try:
                pubsub = client.pubsub()
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                self.ready.set()
                backoff = 0.5
                if reconnecting:  # after an outage events may have been missed: everyone re-reads
                    self._wake_all(reload=True)
                reconnecting = True
                async for message in pubsub.listen():
                    if message["type"] == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                self.ready.clear()
                logger.warning("progress events: Redis connection lost (%s); reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:  # a bug must not leave the process deaf for good
                self.ready.clear()
                logger.exception("progress events: the listener failed; restarting it in %.1f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


_hub: Hub | None = None


def hub() -> Hub:
    global _hub
    if _hub is None:
        from django.conf import settings

        _hub = Hub(settings.REDIS_URL)
    return _hub


def is_events_request(scope: dict) -> bool:
    return scope["type"] == "http" and scope.get("method") == "GET" and EVENTS_PATH.match(scope["path"]) is not None


async def handle(scope: dict, receive, send) -> None:
    """GET /api/jobs/<id>/events/: the job's state now, then each change, until it is final."""
    from ontop.events import snapshot

    try:
        # The canonical form: events are published on str(job.id), whatever form the URL used.
        job_id = str(uuid.UUID(EVENTS_PATH.match(scope["path"])["job_id"]))
    except ValueError:
        await _send_refusal(send, snapshot.not_found(scope))
        return
    events = hub()
    watcher = events.add(job_id)
    counted_user: int | None = None
    try:
        # Subscribed before the first read: nothing published after it can be missed.
        await events.wait_ready(1.0)
        try:
            opened = await events.run(snapshot.open_watch, scope, job_id)
        except Exception:  # open_watch answers its own failures: this one escaped it
            logger.exception("progress events: could not open job %s", job_id)
            opened = snapshot.internal_error(scope)
        if isinstance(opened, snapshot.Refusal):
            await _send_refusal(send, opened)
            return
        last_event_id = _header(scope, b"last-event-id")
        sent_id, event = snapshot.sse_event(opened.state)
        if snapshot.is_terminal(opened.state) and last_event_id == sent_id:
            # It has seen the end already: 204 tells EventSource to stop reconnecting.
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        # Counted in the event loop (one thread): no two streams can both take the last place.
        if events.streams_by_user.get(opened.user_id, 0) >= MAX_STREAMS_PER_USER:
            await _send_refusal(send, snapshot.throttled(opened.language, retry_after=THROTTLED_RETRY_AFTER_SECONDS))
            return
        counted_user = opened.user_id
        events.streams_by_user[counted_user] = events.streams_by_user.get(counted_user, 0) + 1
        await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
        first = snapshot.sse_preamble() + (b"" if last_event_id == sent_id else event)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        if not snapshot.is_terminal(opened.state):
            await _follow(events, watcher, opened, sent_id, receive, send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        events.remove(watcher)
        if counted_user is not None:
            left = events.streams_by_user.get(counted_user, 0) - 1
            if left > 0:
                events.streams_by_user[counted_user] = left
            else:
                events.streams_by_user.pop(counted_user, None)


async def _follow(events: Hub, watcher: Watcher, opened, sent_id: str, receive, send) -> None:
    from ontop.events import snapshot

    listener = asyncio.get_running_loop().create_task(_on_disconnect(receive, watcher))
    try:
        state = opened.state
        last_write = last_read = time.monotonic()
        while not watcher.closed:
            refresh = QUEUED_REFRESH_SECONDS if state["status"] == "queued" else RESYNC_SECONDS
            now = time.monotonic()
            wait = max(0.0, min(last_write + HEARTBEAT_SECONDS, last_read + refresh) - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await watcher.wake.wait()
            if watcher.closed:
                break
            now = time.monotonic()
            woken = watcher.wake.is_set()
            if woken or now - last_read >= refresh:
                reload = watcher.reload or not woken
                watcher.wake.clear()
                watcher.reload = False
                try:
                    state = await events.read(opened, reload=reload)
                except Exception:  # the database or Redis away: keep the stream, try at the next event
                    logger.warning("progress events: could not read job %s", watcher.job_id, exc_info=True)
                last_read = time.monotonic()
                event_id, event = snapshot.sse_event(state)
                if event_id != sent_id:
                    await send({"type": "http.response.body", "body": event, "more_body": True})
                    sent_id, last_write = event_id, time.monotonic()
                if snapshot.is_terminal(state):
                    return
            if time.monotonic() - last_write >= HEARTBEAT_SECONDS:
                await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                last_write = time.monotonic()
    finally:
        listener.cancel()


async def _on_disconnect(receive, watcher: Watcher) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            watcher.close()
            return


async def _send_refusal(send, refusal) -> None:
    body = json.dumps(refusal.body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers + refusal.headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return ""


_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
    (b"x-content-type-options", b"nosniff"),
]


def install_shutdown_hooks() -> None:
    """Streams never end by themselves while a job runs, so a stopping server ends them: chained
    in front of the server's own SIGTERM/SIGINT handlers (installed before the app starts)."""
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def stop(signum, frame, previous=previous) -> None:
            loop.call_soon_threadsafe(hub().close_all)
            previous(signum, frame)

        signal.signal(number, stop)
