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
        "desk_makeover,lora_check,one_photo_profile,picture_diary,portrait,pose_extract,preview,subject_photo_check",
        "subject_training",
    )


def _devstack_manage(var_dir, pg_port: int, redis_port: int, *args: str, **env: str):
    """`python -m ontop.devstack manage ...` as a developer runs it: no DATABASE_URL/REDIS_URL exported."""
    import os
    import subprocess
    import sys

    from tests.conftest import BASE_DIR

    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")}
    environment.update(
        ONTOP_VAR_DIR=str(var_dir), ONTOP_DEV_PG_PORT=str(pg_port), ONTOP_DEV_REDIS_PORT=str(redis_port), **env
    )
    return subprocess.run(
        [sys.executable, "-m", "ontop.devstack", "manage", *args],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


SHOW_ADMIN = (
    "from django.contrib.auth import get_user_model; "
    "boss = get_user_model().objects.get(username='boss'); print(boss.email, boss.is_superuser, boss.is_staff)"
)


@pytest.fixture
def var_dir():
    """A var/ of its own, outside pytest's 0700 base directory: as root, PostgreSQL runs as another
    user that must reach its data, and pytest sessions running beside this one reset that mode."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="ontop-manage-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_make_superuser_and_manage_run_against_the_embedded_servers(var_dir, monkeypatch):
    from ontop.devstack import EmbeddedPostgres, EmbeddedRedis, services

    pg_port, redis_port = free_port(), free_port()
    created = _devstack_manage(
        var_dir,
        pg_port,
        redis_port,
        "--migrate",
        "--",
        "createsuperuser",
        "--no-input",
        "--username",
        "boss",
        "--email",
        "boss@example.com",
        DJANGO_SUPERUSER_PASSWORD="desk-lamp-admin-42",
    )
    assert created.returncode == 0, created.stdout + created.stderr
    assert "Superuser created successfully." in created.stdout
    assert "[ontop] starting embedded PostgreSQL" in created.stderr, "servers were started for the command"
    # Stopped after it (judged by the servers' own data, as another run may reuse a freed port).
    assert EmbeddedPostgres(var_dir / "postgres", pg_port).running_port() is None
    assert not EmbeddedRedis(var_dir / "redis", redis_port).is_running()

    # Again, with the servers already running (as under `make run`): they are used and left running.
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("REDIS_URL")
    with services(var_dir=var_dir, pg_port=pg_port, redis_port=redis_port):
        shown = _devstack_manage(var_dir, pg_port, redis_port, "--", "shell", "-c", SHOW_ADMIN)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert shown.stdout.splitlines()[-1] == "boss@example.com True True", "the account is in var/'s database"
        assert "using the running embedded PostgreSQL" in shown.stderr
        assert "using the running embedded Redis" in shown.stderr
        assert EmbeddedPostgres(var_dir / "postgres", pg_port).running_port() == pg_port
        assert EmbeddedRedis(var_dir / "redis", redis_port).is_running()

    failed = _devstack_manage(var_dir, pg_port, redis_port, "--", "shell", "-c", "raise SystemExit(3)")
    assert failed.returncode == 3, "the command's exit status comes back"
