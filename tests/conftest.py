"""Shared fixtures. Tests run against the real PostgreSQL and Redis that `make test` provides."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.contrib.auth import get_user_model
from PIL import Image, ImageDraw
from rq import SimpleWorker
from rq.serializers import JSONSerializer

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


def make_desk_photo(
    size: tuple[int, int] = (320, 240), *, fmt: str = "JPEG", exif_orientation: int | None = None
) -> bytes:
    """A synthetic desk: wood-coloured top, a dark 'monitor' and a 'keyboard'."""
    image = Image.new("RGB", size, (181, 136, 99))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle([w * 0.3, h * 0.1, w * 0.7, h * 0.45], fill=(20, 20, 25))
    draw.rectangle([w * 0.3, h * 0.6, w * 0.65, h * 0.72], fill=(230, 230, 230))
    buffer = io.BytesIO()
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        exif[0x8825] = {1: "N", 2: (37.0, 33.0, 0.0)}  # GPS latitude: must never be stored
        image.save(buffer, format=fmt, exif=exif)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


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
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
