"""`make run`'s launcher for real: embedded servers, web, both workers, Ctrl-C, and data that survives."""

import io
import json
import time
import uuid

import pytest

from ontop.devstack import free_port
from tests.photos import make_desk_photo
from tests.stack import Stack

pytestmark = pytest.mark.slow


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


def test_make_run_gives_training_its_own_gpu_worker_process():
    """RQ takes a worker's queues in strict order: a training run would hold up every picture."""
    from ontop.devstack import gpu_worker_split

    assert gpu_worker_split() == (
        "desk_makeover,one_photo_profile,picture_diary,portrait,pose_extract,preview,subject_photo_check",
        "subject_training",
    )
