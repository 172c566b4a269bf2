"""The whole product as `make run` starts it, on free ports and a scratch var/ dir, for tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from tests.conftest import BASE_DIR


class Stack:
    def __init__(self, var_dir, port: int, pg_port: int, redis_port: int, **extra_env: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")}
        env = {k: v for k, v in env.items() if not k.startswith("ONTOP_GPU_") or k == "ONTOP_GPU_MODEL_DIR"}
        env.update(
            ONTOP_VAR_DIR=str(var_dir),
            ONTOP_DEV_PG_PORT=str(pg_port),
            ONTOP_DEV_REDIS_PORT=str(redis_port),
            ONTOP_PORT=str(port),
            **extra_env,
        )
        self.base = f"http://127.0.0.1:{port}"
        self.log = var_dir / f"stack-{uuid.uuid4().hex}.log"
        self.log_handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ontop.devstack", "run"],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log_handle,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "OnTop is running" in self.output():
                return
            assert self.process.poll() is None, self.output()[-4000:]
            time.sleep(0.5)
        raise AssertionError("stack did not come up:\n" + self.output()[-4000:])

    def request(self, path: str, *, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, path: str, payload: dict | None = None, token: str | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        status, body = self.request(path, data=json.dumps(payload).encode() if payload else None, headers=headers)
        return status, json.loads(body or b"{}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            return self.process.wait(90)
        finally:
            self.log_handle.close()


def wait_until(condition, timeout: float, what: str, every: float = 0.2):
    """`condition()`'s first truthy value, polled every `every` seconds; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
