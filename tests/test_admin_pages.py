"""The admin: OnTop's name, read-only jobs and uploads with their pictures and the worker's error,
a retry that never repeats a job that cannot succeed, and showcases picked from a staff makeover."""

from __future__ import annotations

import io
import re

import django_rq
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from generation import services
from generation.models import GenerationJob, Showcase, Upload
from gpu_worker.contract import JobResult, JobStatus, OutputImage
from gpu_worker.contract.picture_diary import DiaryParams
from makeovers import services as makeover_services
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = "/admin/generation/generationjob/"
UPLOADS = "/admin/generation/upload/"
SHOWCASES = "/admin/generation/showcase/"


def _makeover(owner) -> GenerationJob:
    upload = services.upload_create(owner=owner, file=SimpleUploadedFile("d.jpg", make_desk_photo()))
    return makeover_services.makeover_create(owner=owner, upload=upload)


def _png(colour=(200, 120, 40), size=(96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _succeeded(job: GenerationJob) -> GenerationJob:
    """What a finished makeover leaves: its result and mask under the job's prefix, and the result row."""
    outputs = []
    for role, colour in (("result", (200, 120, 40)), ("mask", (255, 255, 255))):
        key = f"{job.output_prefix}{role}.png"
        default_storage.save(key, ContentFile(_png(colour)))
        outputs.append(OutputImage(role=role, key=key, width=96, height=64))
    result = JobResult(job_id=str(job.id), status=JobStatus.SUCCEEDED, outputs=outputs, data={"seed": 7})
    assert services.job_finalize(job_id=job.id, result=result)
    job.refresh_from_db()
    return job


def _inputs(page: str) -> list[str]:
    """The names of the form fields a page lets one edit."""
    return sorted(set(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"', page)))


# ---- the site's name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "header", "title"),
    [
        ("en", "OnTop administration", "Manage OnTop | OnTop admin"),
        ("ko", "OnTop 관리자", "OnTop 관리 | OnTop 관리자"),
    ],
)
def test_admin_pages_carry_ontops_name(admin_client, language, header, title):
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f'<a href="/admin/">{header}</a>' in page
    assert f"<title>{title}</title>" in page
    assert "Django administration" not in page
    assert "Django 사이트 관리" not in page


# ---- jobs and uploads: read-only -----------------------------------------------------------------


def test_a_job_cannot_be_added_or_edited_by_hand(admin_client, admin_user, redis_clean):
    job = _makeover(admin_user)
    assert admin_client.get(f"{JOBS}add/").status_code == 403
    page = admin_client.get(f"{JOBS}{job.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert _inputs(html) == ["csrfmiddlewaretoken"], "nothing to edit: no status, owner or result field"
    assert 'name="_save"' not in html
    assert f'href="{JOBS}add/"' not in admin_client.get(JOBS).content.decode(), "no add button"
    assert admin_client.post(f"{JOBS}{job.pk}/change/", {"status": "succeeded"}).status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


def test_an_upload_cannot_be_added_or_edited_and_deleting_it_takes_its_files(admin_client, admin_user, redis_clean):
    job = _succeeded(_makeover(admin_user))
    upload = job.upload
    assert admin_client.get(f"{UPLOADS}add/").status_code == 403
    html = admin_client.get(f"{UPLOADS}{upload.pk}/change/").content.decode()
    assert _inputs(html) == ["csrfmiddlewaretoken"]
    assert 'name="_save"' not in html
    assert admin_client.post(f"{UPLOADS}{upload.pk}/change/", {"width": "1"}).status_code == 403
    photo, result = upload.image.name, f"{job.output_prefix}result.png"
    assert admin_client.post(f"{UPLOADS}{upload.pk}/delete/", {"post": "yes"}).status_code == 302
    assert (Upload.objects.filter(pk=upload.pk).exists(), GenerationJob.objects.filter(pk=job.pk).exists()) == (
        False,
        False,
    )
    assert (default_storage.exists(photo), default_storage.exists(result)) == (False, False)


def test_a_jobs_spec_and_result_are_readable_and_its_pictures_inline(admin_client, admin_user, redis_clean):
    job = _succeeded(_makeover(admin_user))
    html = admin_client.get(f"{JOBS}{job.pk}/change/").content.decode()
    assert '<pre class="ontop-pre">{\n  &quot;inputs&quot;: {\n' in html
    assert "\n  &quot;kind&quot;: &quot;desk_makeover&quot;,\n" in html
    assert "&quot;data&quot;: {\n    &quot;seed&quot;: 7\n  }," in html
    pictures = re.findall(r'<img src="([^"]+)"', html)
    assert pictures == [f"{JOBS}{job.pk}/picture/{role}/?size=preview" for role in ("input", "result", "mask")]
    for url in pictures:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size[0] > 0


def test_pictures_on_the_admin_are_for_staff_only_and_never_a_private_products(admin_client, client, user, redis_clean):
    makeover = _succeeded(_makeover(user))
    client.force_login(user)
    assert client.get(f"{JOBS}{makeover.pk}/picture/result/").status_code == 302, "to the admin's login"
    diary = services.job_create(owner=user, kind="picture_diary", params=DiaryParams(text="비 오는 날", seed=5))
    html = admin_client.get(f"{JOBS}{diary.pk}/change/").content.decode()
    assert "Hidden: this product&#x27;s pictures stay with the person." in html
    assert "<img" not in html.split('id="content-main"')[1]
    assert admin_client.get(f"{JOBS}{diary.pk}/picture/result/").status_code == 404


def _fail_on_the_gpu_worker(job: GenerationJob) -> None:
    """The job's GPU run raises something no workflow expected (RQ keeps the traceback)."""
    connection = django_rq.get_connection("default")
    queue = Queue("gpu", connection=connection, serializer=JSONSerializer)
    queue.remove(job.gpu_rq_job_id)
    queue.connection.delete(f"rq:job:{job.gpu_rq_job_id}")
    queue.enqueue("tests.test_admin_pages.explode", job_id=job.gpu_rq_job_id)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    services.job_finalize_from_queue(job_id=job.id)


def explode() -> None:
    raise RuntimeError("size mismatch for lora_A.style_0123: copying a param with shape [4, 67]")


def test_the_job_page_shows_the_workers_error(admin_client, admin_user, redis_clean):
    job = _makeover(admin_user)
    _fail_on_the_gpu_worker(job)
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "internal")
    html = admin_client.get(f"{JOBS}{job.pk}/change/").content.decode()
    section = html.split("Worker&#x27;s error:", 1)[1]
    assert "Traceback (most recent call last)" in section
    assert "RuntimeError: size mismatch for lora_A.style_0123: copying a param with shape [4, 67]" in section


# ---- retry ---------------------------------------------------------------------------------------


def _retry(admin_client, *jobs: GenerationJob):
    return admin_client.post(
        JOBS, {"action": "retry", "_selected_action": [str(job.pk) for job in jobs]}, follow=True
    ).content.decode()


def test_retry_refuses_a_job_that_would_fail_the_same_way(admin_client, admin_user, redis_clean):
    job = _makeover(admin_user)
    services.job_fail(job_id=job.id, code="not_a_desk", message="This doesn't look like a desk.")
    page = _retry(admin_client, job)
    assert GenerationJob.objects.count() == 1
    assert f"Job {job.pk} failed with “not_a_desk”, which would only happen again: not retried." in page
    assert "0 job(s) queued again." in page
    with pytest.raises(services.JobNotRetryable) as refused:
        services.job_retry(job=GenerationJob.objects.get(pk=job.pk))
    assert refused.value.reason == "permanent"


def test_retry_repeats_a_job_the_machine_failed_and_leaves_open_ones(admin_client, admin_user, redis_clean):
    lost, running = _makeover(admin_user), _makeover(admin_user)
    services.job_fail(job_id=lost.id, code="worker_lost", message="The GPU worker stopped.")
    page = _retry(admin_client, lost, running)
    assert "1 job(s) queued again." in page
    assert f"Job {running.pk} is Queued: only failed jobs are retried." in page
    again = GenerationJob.objects.exclude(pk__in=[lost.pk, running.pk]).get()
    assert (again.status, again.spec["params"], again.upload_id) == (
        "queued",
        lost.spec["params"],
        lost.upload_id,
    )


# ---- showcase from a makeover ----------------------------------------------------------------------


def _showcase_form(**fields) -> dict:
    return {"title_en": "A cosy desk", "title_ko": "아늑한 책상", "ordering": "0", "is_active": "on", **fields}


def test_a_showcase_is_made_from_a_staff_makeover_and_outlives_it(admin_client, admin_user, client, redis_clean):
    job = _succeeded(_makeover(admin_user))
    photo = default_storage.open(job.upload.image.name).read()
    response = admin_client.post(f"{SHOWCASES}add/", _showcase_form(job=str(job.pk)))
    assert response.status_code == 302, response.content.decode()[-3000:]
    showcase = Showcase.objects.get()
    assert showcase.job == job
    assert showcase.before_image.name.startswith("showcase/")
    assert showcase.after_image.name.startswith("showcase/")
    assert default_storage.open(showcase.before_image.name).read() == photo
    assert default_storage.open(showcase.after_image.name).read() == _png()
    services.job_delete(job=job)
    showcase.refresh_from_db()
    assert showcase.job is None
    assert (showcase.before_url, showcase.after_url) == (
        f"/jobs/showcase/{showcase.pk}/before/",
        f"/jobs/showcase/{showcase.pk}/after/",
    )
    for url in (showcase.before_url, showcase.after_url):
        assert client.get(url).status_code == 200, "the home page's pictures are copies"


def test_a_customers_makeover_never_becomes_a_showcase(admin_client, user, redis_clean):
    job = _succeeded(_makeover(user))
    html = admin_client.get(f"{SHOWCASES}add/").content.decode()
    assert str(job.pk)[:8] not in html, "not offered"
    response = admin_client.post(f"{SHOWCASES}add/", _showcase_form(job=str(job.pk)))
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert Showcase.objects.count() == 0
    assert services.showcase_job_refusal(job=job) == "not_staff"


def test_a_showcase_needs_a_makeover_or_both_pictures(admin_client, admin_user, redis_clean):
    response = admin_client.post(f"{SHOWCASES}add/", _showcase_form())
    assert response.content.decode().count("Upload this picture, or pick a makeover to take both from.") == 2
    job = _succeeded(_makeover(admin_user))
    both = _showcase_form(job=str(job.pk), before_image=SimpleUploadedFile("b.png", _png(), "image/png"))
    assert (
        "Pick a makeover or upload the pictures, not both."
        in admin_client.post(f"{SHOWCASES}add/", both).content.decode()
    )
    assert Showcase.objects.count() == 0


def test_a_staff_member_made_staff_later_still_needs_a_succeeded_makeover(admin_client, redis_clean):
    staff = get_user_model().objects.create_user("editor", "e@example.com", "a-long-password-1", is_staff=True)
    job = _makeover(staff)
    assert services.showcase_job_refusal(job=job) == "not_succeeded"
    response = admin_client.post(f"{SHOWCASES}add/", _showcase_form(job=str(job.pk)))
    assert "Select a valid choice." in response.content.decode()
