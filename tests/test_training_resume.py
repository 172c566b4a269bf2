"""A personal model's training survives its worker being killed: the job is enqueued again (a
bounded number of times) and the new attempt resumes from the last checkpoint in storage.

Real processes: the GPU worker is started, killed with SIGKILL mid-training, and a new one
finishes the job; the sweeper (the periodic job) notices the silence and starts the next attempt.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from generation import dispatch, services
from generation.models import GenerationJob
from gpu_worker.contract import HEARTBEAT_TIMEOUT_SECONDS
from gpu_worker.contract.subject_training import KIND, PHOTOS_INPUT, TrainingParams
from tests.conftest import BASE_DIR, run_django_worker_burst, run_gpu_worker_burst

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STEPS, EVERY = 24, 6


def _photo(seed: int) -> bytes:
    """A sharp, distinct photo (random blocks): the tiny preset's detector finds one subject in it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((256, 256), Image.Resampling.NEAREST).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _training_job(user) -> GenerationJob:
    uploads = [services.upload_create(owner=user, file=SimpleUploadedFile(f"{i}.jpg", _photo(i))) for i in range(5)]
    return services.job_create(
        owner=user,
        kind=KIND,
        params=TrainingParams(subject_kind="dog", seed=7, steps=STEPS, checkpoint_every=EVERY),
        inputs={PHOTOS_INPUT: [u.image.name for u in uploads]},
    )


def _manifest(job: GenerationJob) -> dict | None:
    key = f"{job.output_prefix}checkpoints/latest.json"
    if not default_storage.exists(key):
        return None
    with default_storage.open(key) as handle:
        return json.loads(handle.read())


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_training_resumes_from_its_last_checkpoint(user, redis_clean):
    job = _training_job(user)
    worker = subprocess.Popen(
        [sys.executable, "-m", "gpu_worker"],
        cwd=BASE_DIR,
        env={**os.environ, "ONTOP_GPU_WORKFLOWS": KIND},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = _wait(lambda: (m := _manifest(job)) and m["step"] >= EVERY and m, 240, "the first checkpoint")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed_at = _manifest(job)["step"]
    assert killed_at % EVERY == 0
    assert EVERY <= killed_at < STEPS, f"killed after the run ended ({first})"
    run_django_worker_burst()  # the "running" notice
    job.refresh_from_db()
    assert (job.status, job.attempts) == (GenerationJob.Status.RUNNING, 1)

    # Silence past the heartbeat timeout: the sweeper starts attempt 2 instead of failing the job.
    later = timezone.now() + timedelta(seconds=HEARTBEAT_TIMEOUT_SECONDS + 1)
    assert services.jobs_sweep(now=later)["worker_lost"] == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code) == (GenerationJob.Status.QUEUED, 2, "")
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).id == f"gpu-{job.id}-a2"
    assert services.jobs_sweep(now=later)["worker_lost"] == 0, "the new attempt is queued, not lost"

    assert run_gpu_worker_burst(timeout=600).returncode == 0
    run_django_worker_burst()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (GenerationJob.Status.SUCCEEDED, 2), job.error_message
    result = job.result["data"]
    assert result["resumed_from_step"] == killed_at
    assert result["steps"] == STEPS
    assert result["preview_steps"] == list(range(EVERY, STEPS + 1, EVERY))
    assert len(result["losses"]) == STEPS // EVERY
    # The resumable state went once the model was saved; the adapter files are there.
    assert default_storage.listdir(f"{job.output_prefix}checkpoints")[1] == ["latest.json"]
    assert default_storage.exists(result["lora_key"])
    assert default_storage.exists(result["embeddings_key"])


def test_a_resumable_job_fails_once_its_attempts_are_spent(user, redis_clean):
    job = _training_job(user)
    GenerationJob.objects.filter(pk=job.pk).update(attempts=3, status=GenerationJob.Status.RUNNING)
    job.refresh_from_db()
    assert services.job_lost(job=job, message="The GPU worker stopped.") is True
    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts) == (GenerationJob.Status.FAILED, "worker_lost", 3)


def test_the_finalize_of_a_replaced_attempt_changes_nothing(user, redis_clean):
    job = _training_job(user)
    assert services.job_resume(job=job) is True
    assert services.job_resume(job=GenerationJob.objects.get(pk=job.pk)) is True  # attempt 3
    stale = GenerationJob.objects.get(pk=job.pk)
    stale.attempts = 1
    assert services.job_resume(job=stale) is False, "a stale view cannot start another attempt"
    # Attempt 1's GPU job never ran: its finalize must not fail the job that attempt 3 now owns.
    _, changed = services.job_finalize_from_queue(job_id=job.id, attempt=1)
    job.refresh_from_db()
    assert (changed, job.status, job.attempts) == (False, GenerationJob.Status.QUEUED, 3)


def test_a_cancelled_training_leaves_no_checkpoint_or_preview_behind(user, redis_clean):
    job = _training_job(user)
    worker = subprocess.Popen(
        [sys.executable, "-m", "gpu_worker"],
        cwd=BASE_DIR,
        env={**os.environ, "ONTOP_GPU_WORKFLOWS": KIND},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: (m := _manifest(job)) and m["step"] >= EVERY, 240, "the first checkpoint")
        run_django_worker_burst()  # the "running" notice
        assert services.job_cancel(job=GenerationJob.objects.get(pk=job.pk)) is True
        # The worker stops at its next step; then finalize runs behind it.
        _wait(lambda: dispatch.gpu_job_fetch(job.gpu_rq_job_id).get_status() == "finished", 120, "the stop")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).return_value()["error"]["code"] == "cancelled"
    run_django_worker_burst()
    job.refresh_from_db()
    assert (job.status, job.error_code) == (GenerationJob.Status.CANCELLED, "cancelled")
    assert services.quota_of(owner=user, kind=KIND).used == 1, "it had started: cancelling does not give it back"
    # Not a file, not even the job's empty folder.
    assert os.path.exists(default_storage.path(job.output_prefix)) is False
