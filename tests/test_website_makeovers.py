"""The website's makeover pages: form, quota, history, actions, private images, cancellation."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from generation import dispatch
from generation.models import GenerationJob, Style
from gpu_worker.contract import CANCEL_KEY_PREFIX
from makeovers import services as makeover_services
from shop.services import catalog_load_demo
from tests.conftest import run_django_worker_burst, run_gpu_worker_burst
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(logged_in_client, redis_clean):
    catalog_load_demo()
    return logged_in_client


def _post_new(client, **fields):
    return client.post(reverse("makeovers:new"), {"photo": io.BytesIO(make_desk_photo()), **fields})


def test_form_shows_quota_styles_and_preferences(web):
    Style.objects.create(slug="cozy", name_en="Cozy wood", name_ko="코지", description_en="Warm.")
    page = web.get(reverse("makeovers:new")).content.decode()
    assert "5 of 5 makeovers left today." in page
    assert "Cozy wood" in page
    assert 'name="include_categories"' in page
    assert 'name="submission_id"' in page
    assert "image/heic" in page


def test_same_form_twice_is_one_job(web):
    submission = "5d0b7c1c-3f7e-4b8e-9a55-111111111111"
    first = _post_new(web, submission_id=submission)
    second = _post_new(web, submission_id=submission)
    assert first["Location"] == second["Location"]
    assert GenerationJob.objects.count() == 1


def test_quota_stops_the_form_with_a_message(web, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    assert _post_new(web).status_code == 302
    refused = _post_new(web)
    assert refused.status_code == 429
    assert "used today" in refused.content.decode()
    assert GenerationJob.objects.count() == 1


def test_deleting_makeovers_on_the_web_does_not_give_the_quota_back(web, settings):
    settings.DAILY_GENERATION_LIMIT = 2
    for _round in range(2):
        assert _post_new(web).status_code == 302
        job = GenerationJob.objects.get()
        GenerationJob.objects.filter(pk=job.pk).update(status="succeeded")
        assert web.post(reverse("makeovers:delete", args=[job.id])).status_code == 302
    assert not GenerationJob.objects.exists()
    refused = _post_new(web)
    assert refused.status_code == 429
    assert GenerationJob.objects.count() == 0


def test_over_quota_a_malformed_form_is_a_form_error_not_a_quota_error(web, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    assert _post_new(web).status_code == 302
    response = _post_new(web, include_categories=["plants"], avoid_categories=["plants"])
    assert response.status_code == 400
    assert "both wanted and avoided" in response.content.decode()


def test_at_zero_quota_a_photo_is_not_stored(web, settings):
    from generation.models import Upload

    settings.DAILY_GENERATION_LIMIT = 1
    assert _post_new(web).status_code == 302
    assert Upload.objects.count() == 1
    assert _post_new(web).status_code == 429
    assert _post_new(web, include_categories=["plants"], avoid_categories=["plants"]).status_code == 400
    assert Upload.objects.count() == 1, "neither refused request kept its photo"


def test_a_photo_replaced_after_a_form_error_is_not_kept(web):
    from generation.models import Upload

    first = _post_new(web, include_categories=["plants"], avoid_categories=["plants"])
    assert first.status_code == 400
    kept = Upload.objects.get()
    second = _post_new(web, upload=str(kept.id), include_categories=["plants"], avoid_categories=["plants"])
    assert second.status_code == 400
    newer = Upload.objects.get()
    assert newer.id != kept.id, "the new photo replaced the kept one"
    assert not default_storage.exists(kept.image.name)


def test_conflicting_preferences_are_a_form_error(web):
    response = _post_new(web, include_categories=["plants"], avoid_categories=["plants"])
    assert response.status_code == 400
    assert "both wanted and avoided" in response.content.decode()


def test_history_is_mine_newest_first_and_paginated(web, user, other_user):
    for _ in range(14):
        assert _post_new(web).status_code == 302
        GenerationJob.objects.update(status="failed")  # failures do not count towards the quota
    upload = GenerationJob.objects.first().upload
    theirs = makeover_services.makeover_create(
        owner=other_user,
        upload=upload.__class__.objects.create(owner=other_user, image=upload.image.name, width=1, height=1),
    )
    page1 = web.get(reverse("makeovers:history"))
    jobs = list(page1.context["page"])
    assert len(jobs) == 12
    assert all(job.owner == user for job in jobs)
    assert theirs not in jobs
    assert [j.created_at for j in jobs] == sorted((j.created_at for j in jobs), reverse=True)
    assert len(list(web.get(reverse("makeovers:history") + "?page=2").context["page"])) >= 1
    thumb = web.get(reverse("generation:job_image", args=[jobs[0].id, "thumb"]))
    assert thumb.status_code == 200


def test_another_persons_job_pages_and_images_are_404(web, other_user):
    _post_new(web)
    job = GenerationJob.objects.get()
    web.force_login(other_user)
    for name, args in [
        ("makeovers:detail", [job.id]),
        ("generation:job_status", [job.id]),
        ("generation:job_image", [job.id, "input"]),
        ("generation:job_image", [job.id, "thumb"]),
    ]:
        assert web.get(reverse(name, args=args)).status_code == 404
    for name in ("generation:job_cancel", "makeovers:delete", "makeovers:again"):
        assert web.post(reverse(name, args=[job.id])).status_code == 404
    assert GenerationJob.objects.get().status == "queued"


def test_cancel_a_waiting_job_and_the_gpu_never_runs_it(web):
    _post_new(web)
    job = GenerationJob.objects.get()
    response = web.post(reverse("generation:job_cancel", args=[job.id]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).get_status() == "canceled"
    assert run_gpu_worker_burst().returncode == 0
    run_django_worker_burst()
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert not job.result


def test_a_running_job_stops_at_its_next_step_when_cancelled(web):
    _post_new(web)
    job = GenerationJob.objects.get()
    # What the cancel button does while the GPU is busy: the worker sees it at its next report.
    dispatch.gpu_job_fetch(job.gpu_rq_job_id).connection.set(f"{CANCEL_KEY_PREFIX}{job.id}", "1")
    assert run_gpu_worker_burst().returncode == 0
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).return_value()["error"]["code"] == "cancelled"
    run_django_worker_burst()
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_delete_removes_the_job_and_its_files(web):
    _post_new(web)
    job = GenerationJob.objects.get()
    photo = job.upload.image.name
    web.get(reverse("generation:job_image", args=[job.id, "thumb"]))
    assert default_storage.exists(f"{job.output_prefix}thumb.jpg")
    response = web.post(reverse("makeovers:delete", args=[job.id]))
    assert response["Location"] == reverse("makeovers:history")
    assert not GenerationJob.objects.exists()
    assert not default_storage.exists(photo)
    assert not default_storage.exists(f"{job.output_prefix}thumb.jpg")


def test_again_with_a_style_makes_a_new_job_from_the_same_photo(web):
    style = Style.objects.create(slug="neon", name_en="Neon", name_ko="네온")
    _post_new(web)
    job = GenerationJob.objects.get()
    response = web.post(reverse("makeovers:again", args=[job.id]), {"style": style.pk})
    again = GenerationJob.objects.exclude(pk=job.pk).get()
    assert response["Location"] == reverse("makeovers:detail", args=[again.id])
    assert again.upload_id == job.upload_id
    assert again.style == style


def test_style_previews_are_public_but_photos_are_not(web, user):
    from django.core.files.base import ContentFile

    style = Style.objects.create(slug="cozy", name_en="Cozy", name_ko="코지")
    style.preview_image.save("cozy.jpg", ContentFile(make_desk_photo()))
    _post_new(web)
    job = GenerationJob.objects.get()
    web.logout()
    assert web.get(reverse("generation:style_preview", args=["cozy"])).status_code == 200
    response = web.get(reverse("generation:job_image", args=[job.id, "input"]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
