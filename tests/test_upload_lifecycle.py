"""Uploads never pile up: one submission stores one photo however often (or however concurrently)
it is sent, a request refused over quota stores none, and a photo nothing uses is swept with its
file. Every check counts the rows and the real files on disk."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generation import services
from generation.models import GenerationJob, Upload
from ontop.accounts.services import api_token_issue
from shop.services import catalog_load_demo
from studio.models import OnePhotoProfile, Subject, SubjectPhoto
from tests.photos import make_desk_photo
from tests.test_studio_web import photo_file


@pytest.fixture
def media(settings, tmp_path) -> Path:
    """A media folder of this test's own, so the files on disk can be counted exactly."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path


def _stored_files(media: Path) -> list[Path]:
    return sorted(p for p in (media / "uploads").rglob("*") if p.is_file()) if (media / "uploads").exists() else []


def _token_client(user) -> Client:
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {api_token_issue(user=user)}")


def _web_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _race(count: int, send) -> list:
    """`send(i)` from `count` threads released together: concurrent requests, each with its own
    PostgreSQL connection and transaction."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = send(index)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results


def _api_makeover(client: Client, submission: str):
    return client.post("/api/makeovers/", {"photo": io.BytesIO(make_desk_photo()), "submission_id": submission})


def _web_makeover(client: Client, submission: str):
    return client.post(reverse("makeovers:new"), {"photo": io.BytesIO(make_desk_photo()), "submission_id": submission})


# ---- (a) one submission, one photo ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("channel", ["api", "web"])
def test_the_same_submission_sent_8_times_stores_one_photo(user, redis_clean, media, channel):
    cache.clear()
    catalog_load_demo()
    submission = str(uuid.uuid4())
    if channel == "api":
        client = _token_client(user)
        statuses = {_api_makeover(client, submission).status_code for _ in range(8)}
        assert statuses == {201}
    else:
        client = _web_client(user)
        locations = {_web_makeover(client, submission)["Location"] for _ in range(8)}
        assert len(locations) == 1
    assert GenerationJob.objects.count() == 1
    assert Upload.objects.count() == 1
    assert _stored_files(media) == [media / Upload.objects.get().image.name]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel", ["api", "web"])
def test_the_same_submission_sent_8_times_at_once_stores_one_photo(user, redis_clean, media, channel):
    """All 8 pass the "sent before?" check together and store their photo; the one whose job is made
    keeps it, the 7 others delete theirs."""
    cache.clear()
    catalog_load_demo()
    submission = str(uuid.uuid4())
    clients = [_token_client(user) if channel == "api" else _web_client(user) for _ in range(8)]
    send = _api_makeover if channel == "api" else _web_makeover
    results = _race(8, lambda i: send(clients[i], submission).status_code)
    assert results == [201] * 8 if channel == "api" else results == [302] * 8, results
    job = GenerationJob.objects.get()
    assert list(Upload.objects.values_list("pk", flat=True)) == [job.upload_id]
    assert _stored_files(media) == [media / job.upload.image.name]


# ---- (b) over quota, nothing stored ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel", ["api", "web"])
def test_makeovers_over_quota_store_nothing_even_when_racing_past_the_first_check(
    user, redis_clean, media, settings, channel
):
    """6 different submissions at once with 1 makeover left: all pass the early quota check, the
    service's check under the lock refuses 5, and those 5 delete the photo they stored."""
    cache.clear()
    catalog_load_demo()
    settings.DAILY_GENERATION_LIMIT = 1
    clients = [_token_client(user) if channel == "api" else _web_client(user) for _ in range(6)]
    send = _api_makeover if channel == "api" else _web_makeover
    results = _race(6, lambda i: send(clients[i], str(uuid.uuid4())).status_code)
    made = 201 if channel == "api" else 302
    assert sorted(results) == [made, 429, 429, 429, 429, 429], results
    job = GenerationJob.objects.get()
    assert list(Upload.objects.values_list("pk", flat=True)) == [job.upload_id]
    assert len(_stored_files(media)) == 1
    # And once the day is spent, a refused request never even stores its photo.
    refused = send(clients[0], str(uuid.uuid4()))
    assert refused.status_code == 429
    assert Upload.objects.count() == 1
    assert len(_stored_files(media)) == 1


@pytest.mark.django_db
def test_a_one_photo_profile_over_quota_stores_nothing_on_the_api_and_the_web(user, redis_clean, media, settings):
    cache.clear()
    settings.STUDIO_DAILY_ONE_PHOTO_PROFILES = 0
    fields = {"tone": "auto", "background": "light_grey", "consent": "true"}
    api = _token_client(user).post("/api/studio/one-photo-profiles/", {**fields, "photo": photo_file(1)})
    assert api.status_code == 429
    assert api.json()["code"] == "quota_exceeded"
    web = _web_client(user).post(reverse("studio:one_photo_new"), {**fields, "photo": photo_file(2)})
    assert web.status_code == 429
    assert (Upload.objects.count(), OnePhotoProfile.objects.count(), GenerationJob.objects.count()) == (0, 0, 0)
    assert _stored_files(media) == []


@pytest.mark.django_db
def test_a_diary_entry_over_quota_stores_nothing(user, redis_clean, media, settings):
    """The diary starts from text: no photo to keep, and no entry or job for a refused request."""
    from diary.models import DiaryEntry
    from tests.test_diary_web import diary_styles

    cache.clear()
    diary_styles()
    settings.DAILY_GENERATION_LIMIT = 0
    refused = _token_client(user).post(
        "/api/diary/entries/", {"text": "오늘은 친구와 떡볶이를 먹었다."}, content_type="application/json"
    )
    assert refused.status_code == 429
    assert (DiaryEntry.objects.count(), GenerationJob.objects.count(), Upload.objects.count()) == (0, 0, 0)
    assert _stored_files(media) == []


# ---- (c) the sweep ------------------------------------------------------------------------------


def _upload(owner, *, hours_old: float) -> Upload:
    from django.core.files.base import ContentFile

    upload = services.upload_create(owner=owner, file=ContentFile(make_desk_photo(), name="desk.jpg"))
    Upload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(hours=hours_old))
    return upload


@pytest.mark.django_db
def test_the_sweep_removes_every_unused_upload_with_its_file_and_nothing_in_use(user, redis_clean, media):
    from gpu_worker.contract import subject_photo_check
    from makeovers.services import makeover_create

    old = services.UNUSED_UPLOAD_HOURS + 1
    abandoned = _upload(user, hours_old=old)  # a form left with a mistake in it, never sent again
    lost_race = _upload(user, hours_old=old)  # e.g. a request that crashed between storing and its job
    fresh = _upload(user, hours_old=1)  # the person may still fix the form
    of_a_job = _upload(user, hours_old=old)
    makeover_create(owner=user, upload=of_a_job)
    of_a_subject = _upload(user, hours_old=old)
    subject = Subject.objects.create(owner=user, name="Me", kind="person", consent_at=timezone.now())
    SubjectPhoto.objects.create(subject=subject, upload=of_a_subject)
    # A file an open job reads by key only (as a training names its photos): never swept under it.
    read_by_key = _upload(user, hours_old=old)
    reader = services.job_create(
        owner=user,
        kind=subject_photo_check.KIND,
        params=subject_photo_check.PhotoCheckParams(subject_kind="person"),
        inputs={subject_photo_check.PHOTOS_INPUT: [read_by_key.image.name]},
    )
    assert reader.status == GenerationJob.Status.QUEUED

    files_before = set(_stored_files(media))
    assert len(files_before) == 6
    assert services.unused_uploads_sweep() == 2
    kept = {fresh.pk, of_a_job.pk, of_a_subject.pk, read_by_key.pk}
    assert set(Upload.objects.values_list("pk", flat=True)) == kept
    gone = {media / abandoned.image.name, media / lost_race.image.name}
    assert set(_stored_files(media)) == files_before - gone
    assert services.unused_uploads_sweep() == 0, "nothing else to take"

    # Once the reading job is over the file is free to go; a deleted subject's photo goes too.
    GenerationJob.objects.filter(pk=reader.pk).update(status=GenerationJob.Status.FAILED)
    Subject.objects.filter(pk=subject.pk).delete()  # the row only (as a cascade from its owner would)
    assert services.unused_uploads_sweep() == 2
    assert set(Upload.objects.values_list("pk", flat=True)) == {fresh.pk, of_a_job.pk}
    assert set(_stored_files(media)) == {media / fresh.image.name, media / of_a_job.image.name}
