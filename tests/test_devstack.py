"""`make run`'s launcher for real: embedded servers, web, both workers, Ctrl-C, and data that survives."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from ontop.devstack import free_port
from tests.conftest import BASE_DIR
from tests.photos import make_desk_photo

pytestmark = pytest.mark.slow


class Stack:
    def __init__(self, var_dir, port: int, pg_port: int, redis_port: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")}
        env = {k: v for k, v in env.items() if not k.startswith("ONTOP_GPU_") or k == "ONTOP_GPU_MODEL_DIR"}
        env.update(
            ONTOP_VAR_DIR=str(var_dir),
            ONTOP_DEV_PG_PORT=str(pg_port),
            ONTOP_DEV_REDIS_PORT=str(redis_port),
            ONTOP_PORT=str(port),
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


def _multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'.encode())
    body.write(b"Content-Type: image/jpeg\r\n\r\n" + content + f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def test_make_run_serves_the_product_and_keeps_data_across_restarts(tmp_path):
    ports = {"port": free_port(), "pg_port": free_port(), "redis_port": free_port()}
    stack = Stack(tmp_path, **ports)
    try:
        stack.wait_ready()
        assert stack.request("/")[0] == 200
        status, health = stack.json("/healthz/")
        assert status == 200, health
        assert health["database"] == health["redis"] == "ok"
        status, body = stack.json(
            "/api/auth/signup/", {"username": "demo", "email": "demo@example.com", "password": "walnut-desk-lamp"}
        )
        assert status == 201, body
        token = body["token"]
        status, styles = stack.json("/api/styles/", token=token)
        assert status == 200
        assert len(styles) >= 3, "demo styles are loaded"

        # The whole path through the running processes: web → Redis → GPU worker → Django worker → web.
        data, content_type = _multipart("photo", "desk.jpg", make_desk_photo())
        status, raw = stack.request(
            "/api/makeovers/", data=data, headers={"Content-Type": content_type, "Authorization": f"Token {token}"}
        )
        assert status == 201, raw
        job_id = json.loads(raw)["id"]
        deadline = time.monotonic() + 120
        state = {}
        while time.monotonic() < deadline:
            state = stack.json(f"/api/makeovers/{job_id}/", token=token)[1]["state"]
            if state["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert state["status"] == "succeeded", (state, stack.output()[-3000:])
    finally:
        code = stack.stop()
    assert code == 0, stack.output()[-3000:]
    assert "stopping" in stack.output()
    assert "Traceback" not in stack.output(), "a clean stop: processes end before the servers they use"
    assert "Connection refused" not in stack.output()

    # Second run on the same var/ dir: the account and the job are still there.
    again = Stack(tmp_path, **ports)
    try:
        again.wait_ready()
        status, body = again.json("/api/auth/token/", {"username": "demo", "password": "walnut-desk-lamp"})
        assert status == 200, body
        status, job = again.json(f"/api/makeovers/{job_id}/", token=body["token"])
        assert status == 200
        assert job["state"]["status"] == "succeeded"
    finally:
        assert again.stop() == 0, again.output()[-3000:]
