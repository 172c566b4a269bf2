"""The job engine (generation) is generic: workflows come from handlers, each with its own queue and timeout."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from generation import dispatch, selectors, services
from generation.handlers import GENERIC_ERROR_MESSAGES, handler_for, handlers
from generation.models import GenerationJob
from gpu_worker.contract import ContractError, ErrorCode, JobResult, JobStatus, all_contracts
from gpu_worker.contract.desk_makeover import DeskParams
from gpu_worker.contract.picture_diary import DiaryParams
from makeovers import services as makeover_services
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)


def _makeover(user) -> GenerationJob:
    upload = services.upload_create(owner=user, file=SimpleUploadedFile("d.jpg", make_desk_photo()))
    return makeover_services.makeover_create(owner=user, upload=upload)


def _diary_job(user) -> GenerationJob:
    return services.job_create(owner=user, kind="picture_diary", params=DiaryParams(text="비 오는 날", seed=5))


def test_every_contract_has_a_registered_handler():
    assert {h.kind for h in handlers()} == set(all_contracts())


def test_each_workflow_goes_to_its_own_queue_with_its_own_timeout(user, redis_clean, settings):
    settings.JOB_TIMEOUT_OVERRIDES = {"picture_diary": 7200}  # a training-sized timeout on one kind only
    makeover, diary = _makeover(user), _diary_job(user)
    makeover_rq = dispatch.gpu_job_fetch(makeover.gpu_rq_job_id)
    diary_rq = dispatch.gpu_job_fetch(diary.gpu_rq_job_id)
    assert (makeover_rq.origin, makeover_rq.timeout) == ("gpu", 900)
    assert (diary_rq.origin, diary_rq.timeout) == ("gpu-diary", 7200)
    assert diary.upload is None
    assert diary.spec["inputs"] == {}
    assert makeover.spec["inputs"] == {"photo": makeover.upload.image.name}


def test_a_job_needs_the_params_of_its_own_workflow(user):
    with pytest.raises(ContractError, match="picture_diary params must be DiaryParams"):
        services.job_create(owner=user, kind="picture_diary", params=DeskParams(seed=1))
    with pytest.raises(LookupError, match="no app registered a handler for job kind 'paint_the_cat'"):
        services.job_create(owner=user, kind="paint_the_cat", params=DeskParams(seed=1))
    assert GenerationJob.objects.count() == 0


def test_quotas_are_per_product(user, redis_clean, settings):
    settings.DAILY_GENERATION_LIMIT = 1
    _makeover(user)
    assert services.quota_of(owner=user, kind="desk_makeover").remaining == 0
    assert services.quota_of(owner=user, kind="picture_diary").remaining == 1
    _diary_job(user)
    with pytest.raises(services.QuotaExceeded):
        _diary_job(user)


def test_a_result_that_breaks_the_contract_fails_the_job_instead_of_showing_it(user, redis_clean):
    job = _diary_job(user)
    rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
    wrong = JobResult(job_id=str(job.id), status=JobStatus.SUCCEEDED, data={"prompt": "only this"})
    rq_job.set_status("finished")
    rq_job._result = wrong.to_dict()  # what a GPU worker of another version might have returned
    rq_job.save()
    result, changed = services.job_finalize_from_queue(job_id=job.id)
    job.refresh_from_db()
    assert changed is True
    assert (job.status, job.error_code) == (GenerationJob.Status.FAILED, ErrorCode.INTERNAL)
    assert (result.status, result.error.code) == (JobStatus.FAILED, ErrorCode.INTERNAL)


def test_old_or_unreadable_stored_results_degrade_instead_of_failing_pages(user, redis_clean, logged_in_client):
    from django.urls import reverse

    job = _makeover(user)
    GenerationJob.objects.filter(pk=job.pk).update(status="succeeded", result={"version": 1, "status": "succeeded"})
    job.refresh_from_db()
    assert selectors.job_result(job=job) is None
    assert selectors.job_output_roles(job=job) == []
    assert logged_in_client.get(reverse("makeovers:detail", args=[job.id])).status_code == 200
    assert logged_in_client.get(reverse("generation:job_image", args=[job.id, "result"])).status_code == 404
    assert logged_in_client.get("/api/makeovers/").status_code == 200


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_stage_and_error_code_has_words_in_both_languages(language):
    """No stage label or failure falls back to a code or to English on a Korean page."""
    with translation.override(language):
        for handler in handlers():
            contract = handler.contract
            for stage in contract.stages:
                label = selectors.stage_label(contract.kind, stage.value)
                assert label, (contract.kind, stage)
                assert label != stage.value, (contract.kind, stage)
            messages = {**GENERIC_ERROR_MESSAGES, **handler.error_messages()}
            for code in contract.error_codes():
                assert str(messages[code]).strip(), (contract.kind, code)
                if language == "ko":
                    assert any("\uac00" <= ch <= "\ud7a3" for ch in str(messages[code])), (code, messages[code])
            if language == "ko":
                for stage in contract.stages:
                    label = selectors.stage_label(contract.kind, stage.value)
                    assert any("\uac00" <= ch <= "\ud7a3" for ch in label), (contract.kind, stage, label)
        finding_deals = str(handler_for("desk_makeover").finishing_label)
        assert finding_deals == {"en": "Finding deals", "ko": "최저가 찾는 중"}[language]


def test_the_engine_shows_failures_by_code_in_the_readers_language(user, redis_clean):
    job = _makeover(user)
    services.job_fail(job_id=job.id, code="not_a_desk", message="This doesn't look like a desk.")
    job.refresh_from_db()
    with translation.override("ko"):
        message = selectors.job_state(job=job).error_message
    assert message.startswith("책상 사진이 아닌 것 같아요")


def test_deleting_a_picture_does_not_give_the_quota_back(user, redis_clean, settings):
    settings.DAILY_GENERATION_LIMIT = 2
    made = _diary_job(user)
    GenerationJob.objects.filter(pk=made.pk).update(status="succeeded")
    cancelled = _diary_job(user)
    services.job_cancel(job=cancelled)
    services.job_delete(job=GenerationJob.objects.get(pk=made.pk))
    services.job_delete(job=cancelled)
    quota = services.quota_of(owner=user, kind="picture_diary")
    assert (quota.used, quota.remaining) == (1, 1), "the made picture still counts; the cancelled one never did"
    assert services.quota_of(owner=user, kind="desk_makeover").used == 0
    _diary_job(user)
    with pytest.raises(services.QuotaExceeded):
        _diary_job(user)


def test_the_admin_never_shows_what_a_person_wrote_in_their_diary(user, redis_clean, admin_client):
    diary = _diary_job(user)
    makeover = _makeover(user)
    page = admin_client.get(f"/admin/generation/generationjob/{diary.pk}/change/").content.decode()
    assert "비 오는 날" not in page
    assert "Hidden: it holds what the person wrote" in page
    shown = admin_client.get(f"/admin/generation/generationjob/{makeover.pk}/change/").content.decode()
    assert "&quot;kind&quot;: &quot;desk_makeover&quot;" in shown
    services.job_fail(job_id=makeover.id, code="worker_lost", message="The GPU worker stopped.")
    admin_client.post(
        "/admin/generation/generationjob/", {"action": "retry", "_selected_action": [str(diary.pk), str(makeover.pk)]}
    )
    assert list(GenerationJob.objects.filter(kind="picture_diary").values_list("pk", flat=True)) == [diary.pk]
    assert GenerationJob.objects.filter(kind="desk_makeover").count() == 2
    # Read-only: nobody hands a job (and its pictures) to someone else by editing its owner.
    edit = admin_client.post(f"/admin/generation/generationjob/{makeover.pk}/change/", {"status": "failed"})
    assert edit.status_code == 403
    # Deleting there is the product's own delete: the files go with the row, the day's count stays.
    default_storage.save(f"{makeover.output_prefix}result.png", ContentFile(b"png"))
    admin_client.post(f"/admin/generation/generationjob/{makeover.pk}/delete/", {"post": "yes"})
    assert GenerationJob.objects.filter(pk=makeover.pk).exists() is False
    assert default_storage.exists(f"{makeover.output_prefix}result.png") is False


def test_a_missing_page_is_a_friendly_404_in_the_readers_language(client, user):
    client.force_login(user)
    korean = client.get("/diary/00000000-0000-0000-0000-000000000000/", HTTP_ACCEPT_LANGUAGE="ko")
    assert korean.status_code == 404
    assert "페이지를 찾을 수 없어요" in korean.content.decode()
    english = client.get("/makeovers/00000000-0000-0000-0000-000000000000/", HTTP_ACCEPT_LANGUAGE="en")
    assert "We could not find that page" in english.content.decode()


def test_the_restyle_choices_are_named_in_the_readers_language(db):
    from makeovers.forms import RestyleForm
    from makeovers.services import makeover_styles_load_demo

    makeover_styles_load_demo()
    with translation.override("ko"):
        labels = [label for _, label in RestyleForm().fields["style"].choices]
    assert labels == ["따뜻한 원목", "미니멀 화이트", "게이머 네온"]
