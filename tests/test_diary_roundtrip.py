"""A diary entry written on the website → a diary job → the real GPU worker process (tiny preset)
→ the Django-side finalize → the picture stored, served and shown in the diary, end to end."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from diary.models import DiaryEntry
from generation import dispatch
from generation import selectors as job_selectors
from generation.models import GenerationJob
from gpu_worker.contract import PROGRESS_META_KEY
from gpu_worker.contract.picture_diary import DiaryResult
from tests.conftest import run_django_worker_burst, run_gpu_worker_burst
from tests.test_diary_web import diary_styles, picture_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _image(response) -> Image.Image:
    return Image.open(io.BytesIO(b"".join(response.streaming_content)))


def _run_workers() -> None:
    worker = run_gpu_worker_burst()
    assert worker.returncode == 0, worker.stderr[-3000:]
    run_django_worker_burst()


@pytest.fixture
def web(logged_in_client, redis_clean):
    diary_styles()
    return logged_in_client


def _write(web, **fields):
    data = {
        "entry_date": timezone.localdate().isoformat(),
        "text": "오늘은 친구들과 한강에서 치킨을 먹었다. 바람이 시원했다.",
        "mood": "happy",
        "style": diary_styles()[1].pk,  # crayon
        "orientation": "portrait",
        **fields,
    }
    response = web.post(reverse("diary:new"), data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    return DiaryEntry.objects.get()


def test_a_diary_entry_becomes_its_picture_through_the_real_workers(web, user, other_user):
    entry = _write(web)
    job = picture_jobs(entry)[0]
    queued = web.get(reverse("generation:job_status", args=[job.id])).json()
    assert (queued["status"], queued["queue_position"]) == ("queued", 0)

    worker = run_gpu_worker_burst()
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).get_meta()[PROGRESS_META_KEY]["percent"] == 100.0
    between = web.get(reverse("generation:job_status", args=[job.id])).json()
    assert (between["status"], between["stage_label"]) == ("running", "Putting it in your diary")
    run_django_worker_burst()

    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, (job.error_code, job.error_message)
    result: DiaryResult = job_selectors.job_result(job=job)
    params = job_selectors.job_params(job=job)
    assert (result.seed, result.style) == (params.seed, "crayon")
    assert result.height > result.width, "portrait (3:4) was asked for"
    output = job.result["outputs"][0]
    assert (output["role"], output["width"], output["height"]) == ("result", result.width, result.height)
    assert default_storage.exists(output["key"])

    picture = _image(web.get(reverse("generation:job_image", args=[job.id, "result"])))
    assert picture.size == (result.width, result.height)
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    assert reverse("generation:job_image", args=[job.id, "result"]) in page
    today = timezone.localdate()
    calendar = web.get(reverse("diary:month", args=[today.year, today.month])).content.decode()
    assert reverse("generation:job_image", args=[job.id, "thumb"]) in calendar
    assert _image(web.get(reverse("generation:job_image", args=[job.id, "thumb"]))).format == "JPEG"
    download = web.get(reverse("diary:download", args=[entry.id]))
    assert download["Content-Disposition"] == f'attachment; filename="diary-{today.isoformat()}.png"'

    web.force_login(other_user)
    assert web.get(reverse("generation:job_image", args=[job.id, "result"])).status_code == 404
    assert web.get(reverse("diary:detail", args=[entry.id])).status_code == 404


def test_another_style_through_the_workers_becomes_the_picture_of_the_day(web, user):
    entry = _write(web, orientation="landscape")
    _run_workers()
    web.post(reverse("diary:repaint", args=[entry.id]), {"style": diary_styles()[4].pk})  # pencil sketch
    _run_workers()
    first, second = picture_jobs(entry)
    assert [first.status, second.status] == ["succeeded", "succeeded"]
    results = [job_selectors.job_result(job=job) for job in (first, second)]
    assert [r.style for r in results] == ["crayon", "pencil-sketch"]
    assert results[0].seed != results[1].seed
    assert results[1].width > results[1].height, "landscape (4:3)"
    page = web.get(reverse("diary:detail", args=[entry.id])).content.decode()
    assert reverse("generation:job_image", args=[second.id, "result"]) in page
    assert reverse("generation:job_image", args=[first.id, "thumb"]) in page, "the earlier picture stays"


def test_deleting_a_painted_entry_deletes_the_workers_files(web, user):
    entry = _write(web)
    _run_workers()
    job = picture_jobs(entry)[0]
    keys = [output["key"] for output in job.result["outputs"]]
    web.get(reverse("generation:job_image", args=[job.id, "thumb"]))
    keys.append(f"{job.output_prefix}thumb.jpg")
    assert all(default_storage.exists(key) for key in keys)
    web.post(reverse("diary:delete", args=[entry.id]))
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count()) == (0, 0)
    assert [key for key in keys if default_storage.exists(key)] == []
