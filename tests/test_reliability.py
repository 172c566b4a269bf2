"""Jobs survive faults: real processes killed, a real Redis restarted, a real database unreachable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from generation import dispatch, services
from generation.models import GenerationJob
from gpu_worker.contract import HEARTBEAT_SECONDS, HEARTBEAT_TIMEOUT_SECONDS, photo_cache_prefix
from makeovers import services as makeover_services
from ontop.devstack import EmbeddedRedis, free_port
from ontop.periodic import PERIODIC_JOBS
from tests.conftest import BASE_DIR, preview_job_create, run_django_worker_burst, run_gpu_worker_burst
from tests.photos import make_desk_photo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
SWEEP_INTERVAL_SECONDS = next(job.interval_seconds for job in PERIODIC_JOBS if job.name == "sweep-jobs")


def _upload(user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return services.upload_create(owner=user, file=SimpleUploadedFile("d.jpg", make_desk_photo()))


def _job(user) -> GenerationJob:
    return makeover_services.makeover_create(owner=user, upload=_upload(user))


def _preview_job(user) -> GenerationJob:
    return preview_job_create(owner=user, upload=_upload(user))


def _gpu_worker(**env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gpu_worker"],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_gpu_worker_fails_the_job_within_bounded_time_and_it_can_be_retried(user, redis_clean):
    job = _job(user)
    worker = _gpu_worker(ONTOP_GPU_STEPS="400")  # slow enough to be killed mid-painting
    try:

        def painting() -> bool:
            progress = dispatch.gpu_job_progress(dispatch.gpu_job_fetch(job.gpu_rq_job_id))
            return progress is not None and progress.stage == "painting"

        _wait(painting, 120, "painting")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed = time.monotonic()
    run_django_worker_burst()  # the "running" notice
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.RUNNING

    # No supervisor here (a machine that died entirely): the sweeper notices the silence. The
    # worker stamped a heartbeat every HEARTBEAT_SECONDS until it died; once HEARTBEAT_TIMEOUT_SECONDS
    # have passed without one, the sweep (every 10 s under `make run`) fails the job.
    assert services.jobs_sweep()["worker_lost"] == 0, "a job that just reported is still alive"
    _wait(lambda: services.jobs_sweep()["worker_lost"] == 1, 60, "the sweep to find the job lost")
    silent = time.monotonic() - killed
    assert HEARTBEAT_TIMEOUT_SECONDS - HEARTBEAT_SECONDS - 1 < silent < HEARTBEAT_TIMEOUT_SECONDS + 5, f"{silent:.1f}s"
    assert silent + SWEEP_INTERVAL_SECONDS <= 30, "worker_lost within 30 s, whenever the sweep runs"
    print(f"\n[measured] sweeper path: the job was found lost {silent:.1f}s after the SIGKILL (+ up to 10 s sweep)")
    job.refresh_from_db()
    assert (job.status, job.error_code) == (GenerationJob.Status.FAILED, "worker_lost")
    assert "stopped" in job.error_message

    retry = makeover_services.makeover_variation(owner=user, job=job)
    assert run_gpu_worker_burst().returncode == 0
    run_django_worker_burst()
    retry.refresh_from_db()
    assert retry.status == GenerationJob.Status.SUCCEEDED


def test_a_job_past_its_timeout_is_stopped_and_failed_with_a_timeout_code(user, redis_clean, monkeypatch):
    monkeypatch.setattr(settings, "JOB_TIMEOUT_OVERRIDES", {"desk_makeover": 4})
    job = _job(user)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"],
        cwd=BASE_DIR,
        env={**os.environ, "ONTOP_GPU_STEPS": "2000"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0
    assert time.monotonic() - started < 120, "stopped at the limit, not after 2000 steps"
    run_django_worker_burst()
    job.refresh_from_db()
    assert (job.status, job.error_code) == (GenerationJob.Status.FAILED, "timeout")


def test_queued_jobs_survive_a_redis_restart(tmp_path):
    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    from gpu_worker.contract import JobSpec

    default_storage.save("uploads/restart/desk.jpg", ContentFile(make_desk_photo()))
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    try:
        queue = Queue("gpu", connection=Redis.from_url(server.url), serializer=JSONSerializer)
        spec = JobSpec(
            job_id="restart-1",
            kind="preview",
            inputs={"photo": "uploads/restart/desk.jpg"},
            output_prefix="results/restart/",
        )
        queue.enqueue("gpu_worker.jobs.run_job", spec.to_dict(), job_id="gpu-restart-1")
        time.sleep(1.2)  # appendfsync everysec
        server.stop()
        server.start()  # same data directory: the append-only file is replayed
        assert Queue("gpu", connection=Redis.from_url(server.url), serializer=JSONSerializer).count == 1
        done = subprocess.run(
            [sys.executable, "-m", "gpu_worker", "--burst"],
            cwd=BASE_DIR,
            env={**os.environ, "ONTOP_GPU_REDIS_URL": server.url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        from rq.job import Job

        result = Job.fetch("gpu-restart-1", connection=Redis.from_url(server.url), serializer=JSONSerializer)
        assert result.return_value()["status"] == "succeeded"
    finally:
        server.stop()


def test_redis_down_gives_service_busy_not_500(client, user, tmp_path, monkeypatch, settings):
    import io

    import django_rq.settings
    from django.core.cache import caches

    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    for name in ("default", "gpu"):
        monkeypatch.setitem(django_rq.settings.QUEUES[name], "URL", server.url)
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    client.force_login(user)
    job = _job(user)
    server.stop()  # Redis goes away for real
    caches["default"].close()

    assert client.get(f"/makeovers/{job.id}/").status_code == 200, "pages render from the database"
    assert client.get(reverse("generation:job_status", args=[job.id])).json()["stage"] == "unknown"
    assert client.get("/healthz/").status_code == 503

    cancelled = client.post(reverse("generation:job_cancel", args=[job.id]))
    assert cancelled.status_code == 302
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.CANCELLED, "recorded in PostgreSQL even with Redis down"

    submitted = client.post("/makeovers/new/", {"photo": io.BytesIO(make_desk_photo())})
    assert submitted.status_code == 302
    newest = GenerationJob.objects.latest("created_at")
    assert (newest.status, newest.error_code) == (GenerationJob.Status.FAILED, "service_busy"), (
        "nothing left 'queued' that no queue holds"
    )

    busy = client.get("/api/quota/")  # API throttling needs the cache: Redis down answers 503
    assert busy.status_code == 503
    assert busy.json()["code"] == "service_busy"
    assert busy["Retry-After"] == "30"


def test_finalize_is_retried_while_the_database_is_unreachable(user, redis_clean):
    job = _preview_job(user)
    assert run_gpu_worker_burst().returncode == 0
    broken = settings.DATABASES["default"]
    unreachable = f"postgres://{broken['USER']}@127.0.0.1:1/{broken['NAME']}"
    down = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "rqworker",
            "default",
            "--burst",
            "--serializer",
            "rq.serializers.JSONSerializer",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": unreachable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode == 0
    job.refresh_from_db()
    assert job.status != GenerationJob.Status.SUCCEEDED, "the database was down"
    finalize = dispatch.gpu_job_fetch(f"finalize-{job.id}")
    assert finalize.get_status() == "scheduled", "a retry is scheduled, the result is not lost"
    time.sleep(2.5)

    import django_rq
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True, with_scheduler=True)
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED


def test_sweeper_fails_jobs_stuck_in_the_queue_and_removes_orphaned_files(user, redis_clean):
    job = _job(user)
    assert services.jobs_sweep()["timeout"] == 0
    assert services.jobs_sweep(now=timezone.now() + timedelta(hours=3))["timeout"] == 1
    job.refresh_from_db()
    assert (job.status, job.error_code) == (GenerationJob.Status.FAILED, "timeout")
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).get_status() == "canceled"

    orphan = default_storage.save(
        f"results/{user.id}/00000000-0000-0000-0000-000000000000/result.png", ContentFile(b"x")
    )
    fresh_orphan = default_storage.save("uploads/999/fresh.jpg", ContentFile(b"y"))
    kept = job.upload.image.name
    old = time.time() - 2 * 3600
    os.utime(Path(default_storage.path(orphan)), (old, old))
    os.utime(Path(default_storage.path(kept)), (old, old))
    removed = services.orphaned_files_sweep()
    assert removed >= 1
    assert not default_storage.exists(orphan)
    assert default_storage.exists(fresh_orphan), "too new: it may belong to a row being written"
    assert default_storage.exists(kept), "a file a row points to is never removed"


def test_what_the_gpu_derived_from_a_photo_goes_with_the_photo(user, redis_clean):
    """The perception cache (detections and masks of someone's room) lives under the photo's own
    prefix: deleting the last makeover of the photo deletes it; the sweep removes caches of photos
    that are gone and of the flat layout from before, and keeps those of photos still stored."""
    kept_job, deleted_job = _job(user), _job(user)
    kept_cache = default_storage.save(f"{photo_cache_prefix(kept_job.upload.image.name)}a.npz", ContentFile(b"k"))
    deleted_prefix = photo_cache_prefix(deleted_job.upload.image.name)
    deleted_cache = default_storage.save(f"{deleted_prefix}b.npz", ContentFile(b"d"))
    legacy = default_storage.save("cache/perception/0123abcd.npz", ContentFile(b"old"))
    stray = default_storage.save(f"{photo_cache_prefix('uploads/999/gone.jpg')}c.npz", ContentFile(b"s"))

    services.job_delete(job=deleted_job)
    assert not default_storage.exists(deleted_cache)
    assert not Path(default_storage.path(deleted_prefix)).exists(), "no empty folder named after the photo"

    old = time.time() - 2 * 3600
    for key in (kept_cache, legacy, stray):
        os.utime(Path(default_storage.path(key)), (old, old))
    services.orphaned_files_sweep()  # (its count includes other tests' leftovers in the media root)
    assert (default_storage.exists(legacy), default_storage.exists(stray)) == (False, False)
    assert default_storage.exists(kept_cache), "the photo is still stored: its cache stays"


def test_a_job_that_heartbeats_but_runs_past_its_limit_is_stopped_by_the_sweep(user, redis_clean):
    """A step stuck in native code keeps the heartbeat thread beating: the job's own time limit
    (plus services.HUNG_JOB_GRACE) must still end it."""
    from rq.job import JobStatus

    job = _job(user)
    rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
    limit = timedelta(seconds=dispatch.job_timeout_seconds(job.kind)) + services.HUNG_JOB_GRACE
    started = timezone.now() - limit - timedelta(seconds=30)
    rq_job.started_at = started.replace(tzinfo=None)  # RQ keeps naive UTC
    rq_job.last_heartbeat = timezone.now().replace(tzinfo=None)
    rq_job.set_status(JobStatus.STARTED)
    rq_job.save()

    a_minute_ago = timezone.now() - timedelta(seconds=60)
    assert services.jobs_sweep(now=a_minute_ago) == {"worker_lost": 0, "timeout": 0, "finalized": 0}, "in time"
    counts = services.jobs_sweep()
    assert counts == {"worker_lost": 0, "timeout": 1, "finalized": 0}
    job.refresh_from_db()
    assert (job.status, job.error_code) == (GenerationJob.Status.FAILED, "timeout")


def test_the_gpu_worker_recycles_after_n_jobs_without_losing_one(user, redis_clean):
    jobs = [_preview_job(user) for _ in range(2)]
    first = run_gpu_worker_burst_env(ONTOP_GPU_MAX_JOBS="1")
    assert first.returncode == 0
    states = [dispatch.gpu_job_fetch(j.gpu_rq_job_id).get_status() for j in jobs]
    assert sorted(states) == ["finished", "queued"], "one job, then a clean exit; the other waits"
    assert run_gpu_worker_burst().returncode == 0
    assert all(dispatch.gpu_job_fetch(j.gpu_rq_job_id).get_status() == "finished" for j in jobs)


def test_the_gpu_worker_recycles_when_memory_grows(user, redis_clean):
    job = _preview_job(user)
    worker = _gpu_worker(ONTOP_GPU_MAX_RSS_MB="1")  # any process is over 1 MB: recycle after one job
    try:
        code = worker.wait(timeout=180)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, "a clean exit, for the supervisor to restart"
    assert "recycling this worker" in worker.stderr.read()
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).get_status() == "finished"


def run_gpu_worker_burst_env(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_frozen_redis_gives_service_busy_in_seconds_not_a_hung_page(client, user, tmp_path, settings):
    """A Redis that stops answering (SIGSTOP: cut off by the network, swapped out) instead of
    refusing connections must not hang every web thread: the shared pool's timeouts turn it into
    the same quick degraded answers as a stopped Redis."""
    from django.core.cache import caches

    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    client.force_login(user)
    job = _job(user)
    try:
        os.kill(server.process.pid, signal.SIGSTOP)
        caches["default"].close()
        started = time.monotonic()
        assert client.get(reverse("generation:job_status", args=[job.id])).json()["stage"] == "unknown"
        assert client.get("/healthz/").status_code == 503
        elapsed = time.monotonic() - started
        # Two requests, each bounded by the pool's 5 s read timeout (ontop/redis_pool.py).
        assert elapsed < 15, f"{elapsed:.1f}s"
        print(f"\n[measured] frozen Redis: status poll and /healthz/ answered in {elapsed:.1f}s")
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
