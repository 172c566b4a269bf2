"""Shared fixtures. Tests run against the real PostgreSQL and Redis that `make test` provides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.contrib.auth import get_user_model
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from tests.photos import make_desk_photo
from tests.s3_server import s3_server  # noqa: F401  (the session's S3 server fixture)

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_clean():
    """An empty Redis for tests that enqueue work (the server is shared by the whole run)."""
    connection = django_rq.get_connection("default")
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("mina", "mina@example.com", "correct-horse-battery")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("jun", "jun@example.com", "another-long-password")


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def desk_photo() -> bytes:
    return make_desk_photo()


def run_gpu_worker_burst(timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real GPU worker process (tiny preset), serving the gpu queue until it is empty."""
    return subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"],
        cwd=BASE_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_django_worker_burst() -> None:
    """The Django-side worker, in this process so it uses the test database."""
    queues = [django_rq.get_queue("urgent"), django_rq.get_queue("default")]
    SimpleWorker(queues, connection=queues[0].connection, serializer=JSONSerializer).work(burst=True)


def preview_job_create(*, owner, upload):
    """The engine's smoke-test workflow (a greyscale preview), created as a product app would."""
    from generation import services
    from gpu_worker.contract.preview import KIND, PHOTO_INPUT, PreviewParams

    return services.job_create(
        owner=owner, kind=KIND, params=PreviewParams(), inputs={PHOTO_INPUT: upload.image.name}, upload=upload
    )


@pytest.fixture(scope="session")
def openapi_schema_yaml(tmp_path_factory) -> str:
    """The OpenAPI schema as `manage.py spectacular --validate --fail-on-warn` writes it (once per run)."""
    out = tmp_path_factory.mktemp("schema") / "schema.yml"
    done = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out.read_text()
