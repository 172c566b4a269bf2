"""Upload → job → real GPU worker process → Django-side finalize → result image, end to end."""

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from generation import dispatch, services
from generation.models import GenerationJob, Upload
from gpu_worker.contract import PROGRESS_META_KEY
from tests.conftest import preview_job_create, run_django_worker_burst, run_gpu_worker_burst
from tests.photos import make_desk_photo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_preview_job_round_trip_through_the_real_workers(logged_in_client, user, other_user, redis_clean):
    photo = make_desk_photo((300, 200), exif_orientation=6)  # "rotate 90°": stored upright
    upload = services.upload_create(owner=user, file=SimpleUploadedFile("desk.jpg", photo))
    job = preview_job_create(owner=user, upload=upload)
    assert job.status == GenerationJob.Status.QUEUED

    assert (upload.width, upload.height) == (200, 300)
    stored = Image.open(default_storage.open(upload.image.name))
    assert stored.size == (200, 300)
    assert not stored.getexif(), "EXIF (and GPS) must be stripped before storing"

    # Queued: the status endpoint says so before any worker runs.
    status = logged_in_client.get(reverse("generation:job_status", args=[job.id])).json()
    assert status["status"] == "queued"
    assert status["queue_position"] == 0

    worker = run_gpu_worker_burst()
    assert worker.returncode == 0, worker.stderr[-3000:]
    gpu_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
    assert gpu_job.get_meta()[PROGRESS_META_KEY]["percent"] == 100.0

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.QUEUED, "the database changes only in finalize"
    between = logged_in_client.get(reverse("generation:job_status", args=[job.id])).json()
    assert (between["status"], between["stage"]) == ("running", "finishing")
    run_django_worker_burst()
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, (job.error_code, job.error_message)
    output = job.result["outputs"][0]
    assert output["role"] == "result"
    assert output["key"].startswith(f"results/{user.id}/{job.id}/")

    image_response = logged_in_client.get(reverse("generation:job_image", args=[job.id, "result"]))
    assert image_response.status_code == 200
    result = Image.open(io.BytesIO(b"".join(image_response.streaming_content)))
    assert result.size == (output["width"], output["height"])
    assert max(result.size) <= 512
    assert result.size[1] > result.size[0], "aspect ratio kept, upright"
    r, g, b = result.convert("RGB").getpixel((result.width // 2, result.height // 2))
    assert r == g == b, "the preview job converts to greyscale"

    logged_in_client.force_login(other_user)
    assert logged_in_client.get(reverse("generation:job_image", args=[job.id, "result"])).status_code == 404
    assert logged_in_client.get(reverse("makeovers:detail", args=[job.id])).status_code == 404


def test_finalize_is_idempotent_and_a_missing_input_fails_with_a_code(logged_in_client, user, redis_clean):
    response = logged_in_client.post(reverse("makeovers:new"), {"photo": io.BytesIO(make_desk_photo())})
    assert response.status_code == 302
    job = GenerationJob.objects.get(owner=user)
    default_storage.delete(job.upload.image.name)  # the input vanished before the worker got to it

    assert run_gpu_worker_burst().returncode == 0
    run_django_worker_burst()
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED
    assert job.error_code == "input_missing"
    finished_at = job.finished_at

    from generation.tasks import finalize_gpu_job

    assert finalize_gpu_job(str(job.id)).endswith("(already final)")
    job.refresh_from_db()
    assert job.finished_at == finished_at


def test_bad_upload_is_rejected_and_leaves_nothing_behind(logged_in_client, user, redis_clean):
    response = logged_in_client.post(reverse("makeovers:new"), {"photo": io.BytesIO(b"%PDF-1.7 not an image")})
    assert response.status_code == 400
    assert "not a photo we can read" in response.content.decode()
    assert not Upload.objects.exists()
    assert not GenerationJob.objects.exists()
    assert redis_clean.keys("rq:job:*") == []


def test_api_creates_a_job_and_reports_its_state(client, user, redis_clean):
    from ontop.accounts.services import api_token_issue

    auth = {"HTTP_AUTHORIZATION": f"Token {api_token_issue(user=user)}"}
    response = client.post("/api/makeovers/", {"photo": io.BytesIO(make_desk_photo())}, **auth)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"]["status"] == "queued"
    detail = client.get(f"/api/makeovers/{body['id']}/", **auth)
    assert detail.status_code == 200
    assert detail.json()["id"] == body["id"]
    assert client.get(f"/api/makeovers/{body['id']}/").status_code == 401


def test_too_large_upload_is_413_and_never_read(logged_in_client, user, settings, redis_clean):
    settings.UPLOAD_MAX_BYTES = 10_000
    noisy = io.BytesIO()
    Image.effect_noise((400, 300), 80).convert("RGB").save(noisy, format="JPEG")
    big = noisy.getvalue()
    assert len(big) > 10_000
    response = logged_in_client.post(reverse("makeovers:new"), {"photo": io.BytesIO(big)})
    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert not Upload.objects.exists()


def test_one_worker_per_gpu_under_the_supervisor(user, redis_clean):
    import os
    import subprocess
    import sys

    from tests.conftest import BASE_DIR

    jobs = []
    for _ in range(3):
        upload = services.upload_create(owner=user, file=SimpleUploadedFile("d.jpg", make_desk_photo()))
        jobs.append(preview_job_create(owner=user, upload=upload))
    done = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--gpus", "0,1", "--burst"],
        cwd=BASE_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = set()
    for job in jobs:
        rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
        assert rq_job.is_finished
        names.add(rq_job.worker_name)
    assert all(name.endswith(("-gpu0", "-gpu1")) for name in names), names


def test_an_upside_down_budget_is_a_form_error(logged_in_client, user, redis_clean):
    photo = io.BytesIO(make_desk_photo())
    response = logged_in_client.post(reverse("makeovers:new"), {"photo": photo, "budget_min": 50000, "budget_max": 100})
    assert response.status_code == 400
    assert "upper budget" in response.content.decode()
    assert not GenerationJob.objects.exists()
    # The photo is kept for the person to fix the form (issue 12), and swept once nothing used it.
    kept = Upload.objects.get()
    assert f'name="upload" value="{kept.id}"' in response.content.decode()
    assert services.unused_uploads_sweep() == 0, "fresh: the person may still fix the form"
    later = timezone.now() + timedelta(hours=services.UNUSED_UPLOAD_HOURS, minutes=1)
    assert services.unused_uploads_sweep(now=later) == 1
    assert not Upload.objects.exists()
    assert not default_storage.exists(kept.image.name)
