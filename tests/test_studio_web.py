"""The profile studio's website: subjects and consent, photo uploads and their checks (through the
real GPU worker), training a personal model (real GPU worker, a few steps), the library, deletion
of every file, retention, and privacy."""

from __future__ import annotations

import datetime
import hashlib
import io
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from PIL import Image, ImageDraw, ImageFilter

from generation import services as job_services
from generation.handlers import handler_for
from generation.models import GenerationJob, Upload
from gpu_worker.contract import JobResult, JobStatus, OutputImage
from gpu_worker.contract.codec import encode
from gpu_worker.contract.subject_photo_check import PhotoCheckResult, PhotoVerdict
from gpu_worker.contract.subject_training import CLASS_WORDS, TrainingResult
from ontop.periodic import PERIODIC_JOBS
from studio import services as studio_services
from studio.models import PersonalModel, PhotoCheck, Subject, SubjectPhoto, Training
from tests.conftest import run_django_worker_burst, run_gpu_worker_burst

pytestmark = pytest.mark.django_db(transaction=True)

STUDIO_STATIC = Path(__file__).resolve().parent.parent / "studio" / "static" / "studio"


# ---- helpers shared by the studio's test files ---------------------------------------------------


def subject_photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """Random flat shapes (what a perceptual hash sees) over fine grain (what sharpness sees): each
    seed is a distinct, sharp photo."""
    rng = np.random.default_rng(seed)
    width, height = size
    photo = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(photo)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x0, y0, x0 + int(rng.integers(40, width // 2)), y0 + int(rng.integers(40, height // 2)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    grain = rng.integers(-20, 21, (height, width, 1))
    return Image.fromarray(np.clip(np.asarray(photo).astype(int) + grain, 0, 255).astype(np.uint8))


def image_bytes(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def photo_file(seed: int, *, blurred: bool = False, fmt: str = "JPEG", quality: int = 90) -> SimpleUploadedFile:
    image = subject_photo(seed)
    if blurred:
        image = image.filter(ImageFilter.GaussianBlur(4))
    kwargs = {"quality": quality} if fmt == "JPEG" else {}
    name = f"photo-{seed}{'-blurred' if blurred else ''}-q{quality}.{fmt.lower()}"
    return SimpleUploadedFile(name, image_bytes(image, fmt, **kwargs), content_type=f"image/{fmt.lower()}")


def stored_files(prefix: str) -> list[str]:
    """Every file in the storage under `prefix` (a directory), recursively."""
    try:
        directories, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [f"{prefix}/{name}" for name in files]
    for directory in directories:
        found += stored_files(f"{prefix}/{directory}")
    return sorted(found)


def owner_files(owner) -> list[str]:
    return stored_files(f"uploads/{owner.pk}") + stored_files(f"results/{owner.pk}")


def make_subject(owner, kind: str = "dog", name: str = "Bori", **kwargs) -> Subject:
    return studio_services.subject_create(owner=owner, kind=kind, name=name, consent=kind == "person", **kwargs)


def add_photos(subject: Subject, seeds, **kwargs) -> studio_services.PhotosAdded:
    return studio_services.subject_photos_add(subject=subject, files=[photo_file(seed, **kwargs) for seed in seeds])


def finish_check(check: PhotoCheck, rejections: dict[int, str] | None = None, phashes: dict[int, str] | None = None):
    """What the GPU worker and finalize do for a check: every photo accepted unless `rejections`
    (by position in the batch) says otherwise; distinct hashes unless `phashes` says otherwise."""
    rejections, phashes = rejections or {}, phashes or {}
    keys = check.job.spec["inputs"]["photos"]
    verdicts = [
        PhotoVerdict(
            key=key,
            accepted=index not in rejections,
            rejection=rejections.get(index, ""),
            sharpness=20.0 if rejections.get(index) == "blurry" else 900.0,
            # 64 bits from the key itself: distinct photos never land within a few bits of each
            # other (str's hash() changes per process, and `% 10_000` could collide).
            phash=phashes.get(index, hashlib.sha256(key.encode()).hexdigest()[:16]),
            subjects=1,
            face_px=0,
            subject_box=[0.0, 0.0, 10.0, 10.0],
        )
        for index, key in enumerate(keys)
    ]
    _succeed(check.job, PhotoCheckResult(photos=verdicts, min_face_px=128, min_sharpness=100.0))


def finish_training(training: Training, previews: int = 2) -> list[str]:
    """What the GPU worker and finalize do for a training: adapter files, previews, a typed result."""
    job = training.job
    prefix = job.output_prefix
    keys = []
    for index in range(previews):
        png = image_bytes(Image.new("RGB", (64, 64), (40 * index, 90, 120)), "PNG")
        keys.append(default_storage.save(f"{prefix}previews/step-{(index + 1) * 2:05d}.png", ContentFile(png)))
    lora = default_storage.save(f"{prefix}model/lora.safetensors", ContentFile(b"lora"))
    embeddings = default_storage.save(f"{prefix}model/embeddings.safetensors", ContentFile(b"emb"))
    default_storage.save(f"{prefix}checkpoints/step-00002/state.bin", ContentFile(b"ckpt"))
    result = TrainingResult(
        lora_key=lora,
        lora_sha256="0" * 64,
        embeddings_key=embeddings,
        embeddings_sha256="1" * 64,
        tokens=["<s0>", "<s1>"],
        class_word=CLASS_WORDS[training.subject.kind],
        base_model="tiny",
        rank=4,
        steps=previews * 2,
        final_loss=0.1234,
        losses=[0.2, 0.1234],
        previews=keys,
        preview_steps=[(index + 1) * 2 for index in range(previews)],
        resumed_from_step=0,
        photos_used=training.photos_count,
        crops=training.photos_count,
        seconds=1.5,
    )
    outputs = [OutputImage(role="preview", key=keys[-1], width=64, height=64)] if keys else []
    _succeed(job, result, outputs=outputs)
    return keys


def _succeed(job: GenerationJob, typed, outputs=()) -> None:
    handler_for(job.kind).on_success(job=job, result=typed)
    envelope = JobResult(job_id=str(job.id), status=JobStatus.SUCCEEDED, outputs=list(outputs), data=encode(typed))
    assert job_services.job_finalize(job_id=job.id, result=envelope)


def accepted_subject(owner, count: int = 5, **kwargs) -> Subject:
    subject = make_subject(owner, **kwargs)
    finish_check(add_photos(subject, range(count)).check)
    return subject


def run_workers() -> None:
    worker = run_gpu_worker_burst(timeout=540)
    assert worker.returncode == 0, worker.stderr[-3000:]
    run_django_worker_burst()


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _redis(redis_clean):
    """Every test here enqueues jobs: none may be left for a later test's GPU worker."""
    return redis_clean


@pytest.fixture
def web(logged_in_client):
    return logged_in_client


def _page(client, url, language="en") -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


# ---- subjects and consent ------------------------------------------------------------------------


def test_the_library_is_in_the_nav_and_starts_empty(web):
    home = _page(web, "/")
    assert f'href="{reverse("studio:library")}"' in home
    assert "My models" in home
    page = _page(web, reverse("studio:library"))
    assert 'id="empty-library"' in page
    assert "2 of 2 trainings left today." in page


def test_the_studio_needs_an_account(client, db):
    response = client.get(reverse("studio:library"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_form_says_what_is_kept_and_for_how_long(web, settings):
    settings.SUBJECT_RETENTION_DAYS = 30
    page = _page(web, reverse("studio:new"))
    assert "These are photos of me, or I have the right to use them." in page
    assert "Your photos are deleted as soon as the training succeeds, unless you tick “Keep my photos”." in page
    assert "until it has not been used for 30 days." in page
    korean = _page(web, reverse("studio:new"), "ko")
    assert "30일 동안" in korean


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Please confirm that these are photos of you, or that you have the right to use them."),
        ("ko", "본인의 사진이거나 사용할 권리가 있는 사진인지 확인해 주세요."),
    ],
)
def test_a_person_needs_consent(web, language, message):
    response = web.post(reverse("studio:new"), {"kind": "person", "name": "Mina"}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Subject.objects.exists()


def test_consent_is_recorded_with_its_time(web, user):
    before = timezone.now()
    response = web.post(reverse("studio:new"), {"kind": "person", "name": "Mina", "consent": "on"})
    subject = Subject.objects.get()
    assert response["Location"] == reverse("studio:subject", args=[subject.id])
    assert (subject.owner, subject.kind, subject.name, subject.keep_photos) == (user, "person", "Mina", False)
    assert before <= subject.consent_at <= timezone.now()


def test_a_pet_needs_no_consent(web):
    response = web.post(reverse("studio:new"), {"kind": "cat", "name": "Nabi", "keep_photos": "on"})
    assert response.status_code == 302
    subject = Subject.objects.get()
    assert (subject.kind, subject.consent_at, subject.keep_photos) == ("cat", None, True)


def test_bad_subject_input_is_a_form_error(web):
    response = web.post(reverse("studio:new"), {"kind": "horse", "name": " "}, HTTP_ACCEPT_LANGUAGE="ko")
    page = response.content.decode()
    assert response.status_code == 400
    assert "누구의 사진인지 골라 주세요." in page
    assert "이름을 지어 주세요." in page


def test_subjects_are_limited(web, user, settings):
    settings.STUDIO_MAX_SUBJECTS = 2
    make_subject(user, name="Bori")
    make_subject(user, name="Kong")
    response = web.post(reverse("studio:new"), {"kind": "dog", "name": "Third"})
    assert response.status_code == 409
    assert "You can have at most 2 subjects. Delete one you no longer need first." in response.content.decode()
    assert Subject.objects.count() == 2


# ---- photos --------------------------------------------------------------------------------------


def test_the_upload_form_takes_many_photos_from_a_phone(web, user):
    subject = make_subject(user)
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert 'type="file" name="photos" id="photo-input" class="file-input" multiple accept="image/*,.heic,.heif"' in page
    assert "0 of 5 photos accepted" in page
    assert 'id="train-button" disabled' in page


def test_a_batch_is_stored_and_checked_by_one_job(web, user):
    subject = make_subject(user)
    files = [photo_file(1), photo_file(2, fmt="PNG"), photo_file(3, fmt="WEBP")]
    response = web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": files})
    assert response["Location"] == reverse("studio:subject", args=[subject.id])
    photos = list(SubjectPhoto.objects.filter(subject=subject).select_related("upload", "photo_check__job"))
    assert len(photos) == 3
    job = GenerationJob.objects.get()
    assert (job.kind, job.status, job.owner) == ("subject_photo_check", "queued", user)
    assert job.spec["inputs"] == {"photos": [p.upload.image.name for p in photos]}
    assert job.spec["params"] == {"subject_kind": "dog"}
    assert {p.photo_check.job_id for p in photos} == {job.id}
    for photo in photos:
        assert photo.upload.image.name.startswith(f"uploads/{user.pk}/")
        assert photo.upload.image.name.endswith(".jpg")
        assert default_storage.exists(photo.upload.image.name)
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert page.count('data-status="checking"') == 3
    assert page.count(f'data-check-url="{reverse("generation:job_status", args=[job.id])}"') == 3
    assert "3 photos uploaded. We are checking them now." in page


def test_a_file_that_is_not_a_photo_is_named_with_its_reason(web, user):
    subject = make_subject(user)
    bad = SimpleUploadedFile("notes.heic", b"not an image at all", content_type="image/heic")
    response = web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": [photo_file(1), bad]}, follow=True)
    page = response.content.decode()
    assert "<strong>notes.heic</strong>: This file is not a photo we can read." in page
    assert SubjectPhoto.objects.count() == 1
    # The page reloads when the check is done: the refusals are still there, in either language...
    url = reverse("studio:subject", args=[subject.id])
    assert "<strong>notes.heic</strong>: This file is not a photo we can read." in _page(web, url)
    assert "<strong>notes.heic</strong>: 읽을 수 있는 사진 파일이 아니에요." in _page(web, url, "ko")
    other = make_subject(user, name="Kong")
    assert 'id="upload-errors"' not in _page(web, reverse("studio:subject", args=[other.id]))
    # ...until the next upload.
    web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": [photo_file(2)]})
    assert 'id="upload-errors"' not in _page(web, url)


def test_an_empty_file_is_refused_by_name_and_the_rest_are_kept(web, user):
    subject = make_subject(user)
    empty = SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")
    text = SimpleUploadedFile("notimage.jpg", b"hello", content_type="image/jpeg")
    files = [photo_file(1), empty, photo_file(2), text]
    response = web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": files}, follow=True)
    page = response.content.decode()
    assert "<strong>empty.jpg</strong>: This file is empty." in page
    assert "<strong>notimage.jpg</strong>: This file is not a photo we can read." in page
    assert "2 photos uploaded. We are checking them now." in page
    assert "The submitted file is empty." not in page
    assert SubjectPhoto.objects.count() == 2
    korean = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    assert "<strong>empty.jpg</strong>: 빈 파일이에요." in korean


def test_more_than_twenty_photos_are_refused(web, user):
    subject = make_subject(user)
    add_photos(subject, range(18))
    response = web.post(
        reverse("studio:photos_add", args=[subject.id]), {"photos": [photo_file(s) for s in (50, 51, 52)]}
    )
    assert response.status_code == 400
    assert "A subject can have at most 20 photos: you can add 2 more." in response.content.decode()
    assert SubjectPhoto.objects.count() == 18
    assert len(stored_files(f"uploads/{user.pk}")) == 18
    korean = web.post(
        reverse("studio:photos_add", args=[subject.id]),
        {"photos": [photo_file(s) for s in (50, 51, 52)]},
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert "사진은 20장까지 올릴 수 있어요. 2장 더 올릴 수 있어요." in korean.content.decode()


def test_rejected_photos_do_not_count_towards_twenty(user):
    subject = make_subject(user)
    check = add_photos(subject, range(20)).check
    finish_check(check, rejections={0: "blurry", 1: "no_subject"})
    added = add_photos(subject, (30, 31))
    assert len(added.photos) == 2
    with pytest.raises(studio_services.PhotoLimitReached):
        add_photos(subject, (32,))


def test_no_photo_chosen_is_a_form_error(web, user):
    subject = make_subject(user)
    response = web.post(reverse("studio:photos_add", args=[subject.id]), {}, HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 400
    assert "사진을 한 장 이상 골라 주세요." in response.content.decode()


def test_verdicts_are_shown_with_reasons_a_person_understands(web, user):
    subject = make_subject(user, kind="dog")
    check = add_photos(subject, range(6)).check
    finish_check(check, rejections={1: "several_subjects", 2: "no_subject", 3: "blurry"})
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert page.count('data-status="accepted"') == 3
    assert page.count('data-status="rejected"') == 3
    for reason in (
        "Two or more dogs are in this photo.",
        "We could not find a dog in this photo.",
        "This photo is blurry.",
    ):
        assert reason in page
    assert "3 of 5 photos accepted" in page
    korean = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    assert "사진에서 강아지를 찾지 못했어요." in korean
    assert "사진이 흐려요." in korean


def test_a_persons_face_too_small_says_how_close_to_come(web, user):
    subject = make_subject(user, kind="person", name="Mina")
    check = add_photos(subject, range(2)).check
    finish_check(check, rejections={0: "face_too_small", 1: "several_subjects"})
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert "The face is too small: move closer (at least 128 pixels)." in page
    assert "Two or more people are in this photo." in page


def test_a_near_copy_of_an_earlier_photo_is_a_duplicate_even_in_a_later_batch(user):
    subject = make_subject(user)
    first = add_photos(subject, range(3)).check
    finish_check(first, phashes={0: "ffff0000ffff0000", 1: "0f0f0f0f0f0f0f0f", 2: "123456789abcdef0"})
    second = add_photos(subject, (10, 11)).check
    finish_check(second, phashes={0: "ffff0000ffff0003", 1: "00000000ffffffff"})  # 2 bits from the first photo
    photos = list(SubjectPhoto.objects.filter(subject=subject).order_by("created_at", "id"))
    assert [(p.verdict, p.rejection) for p in photos] == [
        ("accepted", ""),
        ("accepted", ""),
        ("accepted", ""),
        ("rejected", "duplicate"),
        ("accepted", ""),
    ]
    # Remove the original: the copy is the one to keep now.
    studio_services.subject_photo_delete(photo=photos[0])
    photos[3].refresh_from_db()
    assert (photos[3].verdict, photos[3].rejection) == ("accepted", "")


def test_removing_a_photo_deletes_its_file(web, user):
    subject = make_subject(user)
    photo = add_photos(subject, (1, 2)).photos[0]
    key = photo.upload.image.name
    response = web.post(reverse("studio:photo_delete", args=[photo.id]))
    assert response["Location"] == reverse("studio:subject", args=[subject.id])
    assert not SubjectPhoto.objects.filter(pk=photo.pk).exists()
    assert not Upload.objects.filter(pk=photo.upload_id).exists()
    assert not default_storage.exists(key)
    assert len(stored_files(f"uploads/{user.pk}")) == 1


def test_a_failed_check_can_be_run_again(web, user):
    subject = make_subject(user)
    check = add_photos(subject, (1, 2)).check
    job_services.job_fail(job_id=check.job_id, code="worker_lost", message="lost")
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert page.count('data-status="unchecked"') == 2
    assert "This photo could not be checked." in page
    assert 'id="recheck"' in page
    response = web.post(reverse("studio:photos_recheck", args=[subject.id]))
    assert response.status_code == 302
    again = PhotoCheck.objects.exclude(pk=check.pk).get()
    assert again.job.spec["inputs"] == check.job.spec["inputs"]
    assert set(SubjectPhoto.objects.values_list("photo_check", flat=True)) == {again.pk}
    assert _page(web, reverse("studio:subject", args=[subject.id])).count('data-status="checking"') == 2


def test_the_check_has_no_daily_limit(user, settings, redis_clean):
    settings.DAILY_GENERATION_LIMIT = 1
    subject = make_subject(user)
    for seed in range(4):
        add_photos(subject, (seed,))
    assert PhotoCheck.objects.count() == 4


@pytest.mark.slow
def test_checks_and_photos_go_through_the_real_gpu_worker(web, user):
    subject = make_subject(user, kind="dog")
    photos = [photo_file(seed) for seed in range(5)]
    blurry = photo_file(7, blurred=True)
    copy = photo_file(0, quality=70)  # the first photo saved again: another file, the same picture
    response = web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": [*photos, blurry, copy]})
    assert response.status_code == 302
    run_workers()
    job = PhotoCheck.objects.get().job
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error_code, job.error_message)
    rows = list(SubjectPhoto.objects.filter(subject=subject).order_by("created_at", "id"))
    assert [(p.verdict, p.rejection) for p in rows] == [("accepted", "")] * 5 + [
        ("rejected", "blurry"),
        ("rejected", "duplicate"),
    ]
    assert all(len(p.phash) == 16 and p.sharpness is not None for p in rows)
    assert rows[5].sharpness < 100 < rows[0].sharpness
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert "This photo is blurry." in page
    assert "This photo is almost the same as another one." in page
    assert "5 photos accepted: ready to train." in page
    assert 'id="train-button" disabled' not in page


# ---- training ------------------------------------------------------------------------------------


def _refused_training(web, subject, language="en") -> str:
    """A refused Train goes back to the subject page (post/redirect/get) with the reason as an error."""
    response = web.post(reverse("studio:train", args=[subject.id]), HTTP_ACCEPT_LANGUAGE=language)
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("studio:subject", args=[subject.id]),
    )
    return _page(web, response["Location"], language)


def test_fewer_than_five_accepted_photos_cannot_train(web, user):
    subject = make_subject(user)
    finish_check(add_photos(subject, range(5)).check, rejections={4: "blurry"})
    page = _refused_training(web, subject)
    assert '<p class="flash error">A personal model needs at least 5 accepted photos; this subject has 4.</p>' in page
    assert not Training.objects.exists()
    with pytest.raises(studio_services.NotEnoughPhotos):
        studio_services.subject_train(subject=subject)


def test_photos_still_being_checked_are_the_reason_not_zero(web, user):
    subject = make_subject(user)
    add_photos(subject, range(6))
    page = _refused_training(web, subject)
    assert (
        "6 photos are still being checked. Train once their check is done "
        "(a personal model needs at least 5 accepted photos)." in page
    )
    assert "this subject has 0" not in page
    assert '<p class="notice" id="train-reason">6 photos are still being checked.' in page
    korean = _refused_training(web, subject, "ko")
    assert "사진 6장을 아직 확인하고 있어요. 확인이 끝나면 학습해 주세요" in korean


def test_training_starts_with_the_accepted_photos(web, user, settings):
    settings.STUDIO_TRAINING_STEPS = 4
    subject = make_subject(user)
    finish_check(add_photos(subject, range(7)).check, rejections={6: "blurry"})
    response = web.post(reverse("studio:train", args=[subject.id]), {"submission_id": str(uuid.uuid4())})
    assert response["Location"] == reverse("studio:subject", args=[subject.id])
    training = Training.objects.get()
    job = training.job
    accepted = [
        p.upload.image.name for p in SubjectPhoto.objects.filter(verdict="accepted").order_by("created_at", "id")
    ]
    assert (job.kind, job.status, training.photos_count) == ("subject_training", "queued", 6)
    assert job.spec["inputs"] == {"photos": accepted}
    params = job.spec["params"]
    assert (params["subject_kind"], params["steps"], params["checkpoint_every"]) == ("dog", 4, None)
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert f'data-status-url="{reverse("generation:job_status", args=[job.id])}"' in page
    assert f'data-preview-url="{reverse("generation:job_progress_preview", args=[job.id])}"' in page
    assert f'action="{reverse("generation:job_cancel", args=[job.id])}"' in page
    assert "Waiting in line" in page
    library = _page(web, reverse("studio:library"))
    assert f'id="training-{job.id}"' in library


def test_one_training_at_a_time_per_subject(web, user):
    subject = accepted_subject(user)
    studio_services.subject_train(subject=subject)
    page = _refused_training(web, subject)
    assert '<p class="flash error">This subject is already being trained.' in page
    assert Training.objects.count() == 1


def test_trainings_per_day_are_limited(web, user, settings):
    settings.STUDIO_DAILY_TRAININGS = 1
    first, second = accepted_subject(user), accepted_subject(user, name="Kong")
    studio_services.subject_train(subject=first)
    page = _refused_training(web, second, "ko")
    assert '<p class="flash error">오늘 학습 1번을 모두 썼어요. 내일 다시 와 주세요.</p>' in page
    assert '<p class="notice" id="train-reason">오늘 학습을 모두 썼어요. 내일 다시 와 주세요.</p>' in page


def test_the_training_handler_is_resumable_and_has_words_for_its_stages():
    handler = handler_for("subject_training")
    assert (handler.max_attempts, handler.payload_is_private) == (3, True)
    with translation.override("en"):
        assert str(handler.painting_label("training", 120, 1000)) == "Training (step 120 of 1000)"
        assert str(handler.error_messages()["too_few_photos"]).startswith("Fewer than 5 of your photos could be used.")
    with translation.override("ko"):
        assert str(handler.painting_label("training", 120, 1000)) == "학습 중 (1000단계 중 120단계)"
    assert set(handler.stage_labels()) == {"preparing", "training", "saving", "done"}
    assert handler_for("subject_photo_check").daily_limit() is None


@pytest.mark.parametrize(
    ("kind", "code", "english", "korean"),
    [
        ("subject_training", "cancelled", "You cancelled this training.", "이 학습을 취소했어요."),
        (
            "subject_training",
            "internal",
            "Something went wrong while training your model. Please try again.",
            "모델을 학습하다가 문제가 생겼어요. 다시 시도해 주세요.",
        ),
        (
            "subject_training",
            "input_missing",
            "Some of your photos could not be found any more. Please upload them again.",
            "사진 몇 장을 더 이상 찾을 수 없어요. 다시 올려 주세요.",
        ),
        ("subject_training", "worker_lost", "We lost track of this training. Please train again.", None),
        ("subject_training", "timeout", "This training took too long. Please try again.", None),
        (
            "subject_training",
            "out_of_memory",
            "Our GPU ran out of memory while training your model. Please try again.",
            None,
        ),
        ("subject_photo_check", "cancelled", "The check of your photos was cancelled.", "사진 확인이 취소됐어요."),
        (
            "subject_photo_check",
            "worker_lost",
            "We lost track of the check of your photos. Please check them again.",
            None,
        ),
        (
            "subject_photo_check",
            "internal",
            "Something went wrong while checking your photos. Please check them again.",
            None,
        ),
        ("subject_photo_check", "timeout", "Checking your photos took too long. Please check them again.", None),
        (
            "subject_photo_check",
            "out_of_memory",
            "Our GPU ran out of memory while checking your photos. Please check them again.",
            None,
        ),
        (
            "subject_photo_check",
            "input_missing",
            "Some of your photos could not be found any more. Please upload them again.",
            None,
        ),
    ],
)
def test_the_studio_words_its_failures_as_trainings_and_checks(kind, code, english, korean):
    messages = handler_for(kind).error_messages()
    with translation.override("en"):
        assert str(messages[code]) == english
    with translation.override("ko"):
        assert str(messages[code]) == (korean or str(messages[code]))
        assert "그림" not in str(messages[code])


def test_a_cancelled_training_says_so_in_its_history(web, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    assert job_services.job_cancel(job=training.job)
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert '<small class="muted history-message">You cancelled this training.</small>' in page
    assert "You cancelled this picture." not in page
    korean = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    assert '<small class="muted history-message">이 학습을 취소했어요.</small>' in korean


def test_a_finished_training_makes_a_model_and_deletes_the_photos(web, user):
    subject = accepted_subject(user)
    photo_keys = stored_files(f"uploads/{user.pk}")
    assert len(photo_keys) == 5
    training = studio_services.subject_train(subject=subject)
    previews = finish_training(training)
    model = PersonalModel.objects.get()
    assert (model.subject, model.training, model.name) == (subject, training, "Bori")
    assert not SubjectPhoto.objects.exists()
    assert not Upload.objects.exists()
    assert stored_files(f"uploads/{user.pk}") == []
    page = _page(web, reverse("studio:model", args=[model.id]))
    for index in range(2):
        assert reverse("studio:model_preview", args=[model.id, index]) in page
    assert "0.1234" in page
    assert "AI-generated" in page
    image = web.get(reverse("studio:model_preview", args=[model.id, 1]))
    assert (image.status_code, image["Content-Type"]) == (200, "image/png")
    assert image["Cache-Control"] == "private, no-store"  # gone from the browser once deleted
    assert b"".join(image.streaming_content) == default_storage.open(previews[1]).read()
    assert web.get(reverse("studio:model_preview", args=[model.id, 2])).status_code == 404
    library = _page(web, reverse("studio:library"))
    assert 'data-status="ready"' in library
    assert reverse("studio:model_preview", args=[model.id, 0]) in library


def test_keep_photos_keeps_them(user):
    subject = accepted_subject(user, keep_photos=True)
    finish_training(studio_services.subject_train(subject=subject))
    assert PersonalModel.objects.count() == 1
    assert SubjectPhoto.objects.filter(verdict="accepted").count() == 5
    assert len(stored_files(f"uploads/{user.pk}")) == 5


def test_a_failed_training_says_why_and_offers_to_try_again(web, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    job_services.job_fail(job_id=training.job_id, code="too_few_photos", message="only 3 crops")
    page = _page(web, reverse("studio:library"))
    assert 'data-status="failed"' in page
    assert "Fewer than 5 of your photos could be used. Add a few more clear photos and try again." in page
    subject_page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert ">Try again</button>" in subject_page
    assert web.post(reverse("studio:train", args=[subject.id])).status_code == 302
    assert Training.objects.count() == 2


def test_rename_and_delete_a_model(web, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    finish_training(training)
    model = PersonalModel.objects.get()
    web.post(reverse("studio:model_rename", args=[model.id]), {"name": "Bori in summer"})
    model.refresh_from_db()
    assert model.name == "Bori in summer"
    assert stored_files(f"results/{user.pk}/{training.job_id}") != []
    response = web.post(reverse("studio:model_delete", args=[model.id]))
    assert response["Location"] == reverse("studio:subject", args=[subject.id])
    assert not PersonalModel.objects.exists()
    assert not Training.objects.exists()
    assert stored_files(f"results/{user.pk}/{training.job_id}") == []


@pytest.mark.slow
def test_training_through_the_real_gpu_worker(web, user, settings, monkeypatch):
    settings.STUDIO_TRAINING_STEPS = 4
    monkeypatch.setenv("ONTOP_GPU_TRAIN_CHECKPOINT_EVERY", "2")
    subject = make_subject(user, kind="dog")
    web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": [photo_file(seed) for seed in range(5)]})
    run_workers()
    assert SubjectPhoto.objects.filter(verdict="accepted").count() == 5
    response = web.post(reverse("studio:train", args=[subject.id]))
    assert response.status_code == 302
    run_workers()
    training = Training.objects.get()
    training.job.refresh_from_db()
    assert training.job.status == "succeeded", (training.job.error_code, training.job.error_message)
    model = PersonalModel.objects.get()
    assert model.training == training
    assert not SubjectPhoto.objects.exists()
    assert stored_files(f"uploads/{user.pk}") == []
    page = _page(web, reverse("studio:model", args=[model.id]))
    assert 'id="model-steps">4<' in page
    for index in range(2):
        image = web.get(reverse("studio:model_preview", args=[model.id, index]))
        assert image.status_code == 200
        assert Image.open(io.BytesIO(b"".join(image.streaming_content))).format == "PNG"
    # Deleting the subject deletes every file it ever had: checks, checkpoints, previews, the model.
    assert stored_files(f"results/{user.pk}/{training.job_id}") != []
    web.post(reverse("studio:subject_delete", args=[subject.id]))
    assert owner_files(user) == []
    assert (Subject.objects.count(), GenerationJob.objects.count(), PersonalModel.objects.count()) == (0, 0, 0)


# ---- deleting everything -------------------------------------------------------------------------


def test_deleting_a_subject_deletes_every_file(web, user, other_user):
    theirs = accepted_subject(other_user)
    their_files = owner_files(other_user)
    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    subject.keep_photos = True
    add_photos(subject, (40, 41))  # a second batch, still being checked
    files = owner_files(user)
    assert len(stored_files(f"uploads/{user.pk}")) == 2
    assert len(stored_files(f"results/{user.pk}")) == 5  # 2 previews, lora, embeddings, a checkpoint
    assert files
    response = web.post(reverse("studio:subject_delete", args=[subject.id]))
    assert response["Location"] == reverse("studio:library")
    assert owner_files(user) == []
    assert not Subject.objects.filter(owner=user).exists()
    assert not GenerationJob.objects.filter(owner=user).exists()
    assert not Upload.objects.filter(owner=user).exists()
    assert (PersonalModel.objects.count(), Training.objects.count()) == (0, 0)
    assert owner_files(other_user) == their_files
    assert Subject.objects.get() == theirs


def test_the_retention_sweep_deletes_old_unused_subjects_only(user, settings):
    settings.SUBJECT_RETENTION_DAYS = 90
    old = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=old))
    fresh = accepted_subject(user, name="Kong")
    long_ago = timezone.now() - datetime.timedelta(days=91)
    Subject.objects.filter(pk=old.pk).update(last_used_at=long_ago)
    PersonalModel.objects.update(last_used_at=long_ago)
    assert studio_services.subjects_expire() == 1
    assert list(Subject.objects.all()) == [fresh]
    assert not PersonalModel.objects.exists()
    assert len(stored_files(f"uploads/{user.pk}")) == 5  # the fresh subject's photos
    assert stored_files(f"results/{user.pk}") == []


def test_using_a_model_keeps_its_subject(user):
    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    Subject.objects.filter(pk=subject.pk).update(last_used_at=timezone.now() - datetime.timedelta(days=200))
    studio_services.personal_model_touch(model=PersonalModel.objects.get())
    assert studio_services.subjects_expire() == 0
    assert Subject.objects.count() == 1


def test_the_sweep_runs_hourly():
    job = next(job for job in PERIODIC_JOBS if job.function == "studio.tasks.subjects_expire")
    assert job.interval_seconds == 3600


# ---- privacy -------------------------------------------------------------------------------------


def test_other_peoples_things_are_404(web, other_user):
    subject = accepted_subject(other_user)
    finish_training(studio_services.subject_train(subject=subject), previews=1)
    photo = add_photos(subject, (60,)).photos[0]
    model = PersonalModel.objects.get()
    for method, url in [
        ("get", reverse("studio:subject", args=[subject.id])),
        ("post", reverse("studio:subject_edit", args=[subject.id])),
        ("post", reverse("studio:photos_add", args=[subject.id])),
        ("post", reverse("studio:photos_recheck", args=[subject.id])),
        ("post", reverse("studio:train", args=[subject.id])),
        ("post", reverse("studio:subject_delete", args=[subject.id])),
        ("get", reverse("studio:photo_image", args=[photo.id])),
        ("post", reverse("studio:photo_delete", args=[photo.id])),
        ("get", reverse("studio:model", args=[model.id])),
        ("post", reverse("studio:model_rename", args=[model.id])),
        ("post", reverse("studio:model_delete", args=[model.id])),
        ("get", reverse("studio:model_preview", args=[model.id, 0])),
        ("get", reverse("generation:job_status", args=[model.training_id])),
    ]:
        assert getattr(web, method)(url).status_code == 404, url
    assert Subject.objects.count() == 1
    assert 'id="empty-library"' in _page(web, reverse("studio:library"))


def test_photos_are_served_small_and_privately(web, user):
    subject = make_subject(user)
    photo = add_photos(subject, (1,)).photos[0]
    response = web.get(reverse("studio:photo_image", args=[photo.id]))
    assert (response.status_code, response["Content-Type"]) == (200, "image/jpeg")
    assert response["Cache-Control"] == "private, no-store"
    assert max(Image.open(io.BytesIO(response.content)).size) == 360


def test_the_admin_shows_no_photos(admin_client, user):
    subject = accepted_subject(user)
    page = admin_client.get(reverse("admin:studio_subject_change", args=[subject.id])).content.decode()
    assert "uploads/" not in page
    assert "/studio/photos/" not in page
    assert re.findall(r'<img src="([^"]+)"', page) == ["/static/admin/img/icon-no.svg"]  # keep_photos: False
    assert "Bori" not in page


# ---- languages and small screens -----------------------------------------------------------------


def test_the_subject_page_speaks_korean(web, user):
    subject = make_subject(user, kind="person", name="Mina")
    finish_check(add_photos(subject, range(3)).check, rejections={0: "blurry"})
    page = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    for text in ("사진", "학습", "5장 중 2장"):
        assert text in page
    for english in ("Photos", "Train my model", "photos accepted", "Remove", "Delete this subject"):
        assert english not in page


# ---- what the walkthrough found ------------------------------------------------------------------


def test_a_double_submitted_subject_form_makes_one_subject(web):
    form = _page(web, reverse("studio:new"))
    assert '<form method="post" class="panel wide studio-form once" id="new-subject">' in form
    assert re.search(r'<input type="hidden" name="submission_id" value="[0-9a-f-]{36}"', form)
    payload = {"kind": "dog", "name": "Bori", "submission_id": str(uuid.uuid4())}
    first = web.post(reverse("studio:new"), payload)
    second = web.post(reverse("studio:new"), payload)
    subject = Subject.objects.get()
    assert first["Location"] == second["Location"] == reverse("studio:subject", args=[subject.id])
    web.post(reverse("studio:new"), {**payload, "submission_id": str(uuid.uuid4())})
    assert Subject.objects.count() == 2


def test_the_page_script_sends_a_form_once():
    script = (STUDIO_STATIC / "studio.js").read_text()
    assert 'document.querySelectorAll("form.once")' in script
    assert "button.disabled = true;" in script
    assert "panel.dataset.stepLabel" in script


@pytest.mark.parametrize(
    ("language", "typed", "error"),
    [
        ("en", "", "Give it a name."),
        ("ko", "x" * 61, "이름은 60자까지 쓸 수 있어요. (지금 61자)"),
    ],
)
def test_a_bad_model_name_is_an_error_next_to_the_field_and_keeps_what_was_typed(web, user, language, typed, error):
    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    model = PersonalModel.objects.get()
    response = web.post(reverse("studio:model_rename", args=[model.id]), {"name": typed}, HTTP_ACCEPT_LANGUAGE=language)
    page = response.content.decode()
    assert response.status_code == 400
    assert f'<p class="error" role="alert" id="rename-error">{error}</p>' in page
    assert '<details class="panel wide" id="rename" open>' in page
    assert f'value="{typed}"' in page if typed else 'name="name" value=' not in page
    assert 'class="flash' not in page
    model.refresh_from_db()
    assert model.name == "Bori"
    renamed = web.post(reverse("studio:model_rename", args=[model.id]), {"name": "Summer"}, follow=True)
    assert '<p class="flash success">Renamed.</p>' in renamed.content.decode()


def test_a_bad_subject_name_is_an_error_next_to_the_field(web, user):
    subject = make_subject(user)
    response = web.post(reverse("studio:subject_edit", args=[subject.id]), {"name": "y" * 61})
    page = response.content.decode()
    assert response.status_code == 400
    assert '<p class="error" role="alert" id="name-error">A name has at most 60 characters (it has 61).</p>' in page
    assert f'value="{"y" * 61}"' in page
    assert '<details class="panel wide" id="settings" open>' in page


def test_after_training_the_model_comes_first_and_says_the_photos_were_deleted(web, user):
    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    model = PersonalModel.objects.get()
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert page.index('id="models"') < page.index('id="photos"') < page.index('id="train"')
    assert "<h2>Your model is ready</h2>" in page
    assert (
        '<p class="notice" id="photos-note">Your photos were deleted after training, as promised. '
        "To train again, upload new photos.</p>" in page
    )
    assert f'<a class="button small secondary open-model" href="{reverse("studio:model", args=[model.id])}">' in page
    assert '<p id="accepted-count" class="accepted-count">No photos yet for a new training.' in page
    assert "0 of 5 photos accepted" not in page
    assert '<p class="notice" id="train-reason">Training needs at least 5 accepted photos.</p>' in page
    korean = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    assert "약속한 대로 학습이 끝난 뒤 사진을 삭제했어요. 다시 학습하려면 새 사진을 올려 주세요." in korean
    assert "<h2>모델이 준비됐어요</h2>" in korean


def test_after_training_with_kept_photos_the_page_says_they_were_kept(web, user):
    subject = accepted_subject(user, keep_photos=True)
    finish_training(studio_services.subject_train(subject=subject))
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert page.index('id="models"') < page.index('id="photos"')
    assert (
        '<p class="notice" id="photos-note">Your photos were kept after training, as you asked. '
        "You can train again with them.</p>" in page
    )
    assert "5 photos accepted: ready to train." in page


def test_while_a_training_runs_its_photos_cannot_be_removed_and_the_page_says_why(web, user):
    subject = accepted_subject(user, count=6)
    studio_services.subject_train(subject=subject)
    extra = add_photos(subject, (30,)).photos[0]  # uploaded after the training started: not one of its inputs
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert page.count('<small class="muted in-use">In use by the training</small>') == 6
    assert page.count('class="link remove-photo"') == 1
    assert f'action="{reverse("studio:photo_delete", args=[extra.id])}"' in page
    assert '<p id="accepted-count" class="accepted-count">A training with 6 photos is running.' in page
    assert "ready to train" not in page
    assert 'id="train-button" disabled aria-describedby="train-reason"' in page
    assert '<p class="notice" id="train-reason">A training is running. You can train again once it is done.</p>' in page
    assert 'data-step-label="Step %(step)s of %(total)s"' in page
    assert '<span class="job-eta">Position in line: 1</span>' in page
    korean = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    assert 'data-step-label="%(total)s단계 중 %(step)s단계"' in korean
    assert "사진 6장으로 학습하고 있어요." in korean


def test_the_training_history_shows_steps_and_final_loss(web, user):
    subject = accepted_subject(user)
    training = studio_services.subject_train(subject=subject)
    finish_training(training)
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert f'<li id="history-{training.job_id}">' in page
    assert '<span class="history-result">4 steps, final loss 0.1234</span>' in page
    korean = _page(web, reverse("studio:subject", args=[subject.id]), "ko")
    assert '<span class="history-result">4단계, 최종 손실 0.1234</span>' in korean


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_page_writes_a_models_date_the_same_way(web, user, language):
    from django.utils import formats

    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    model = PersonalModel.objects.get()
    with translation.override(language):
        when = formats.date_format(timezone.localtime(model.created_at), "DATETIME_FORMAT")
    assert when
    for url in (
        reverse("studio:subject", args=[subject.id]),
        reverse("studio:model", args=[model.id]),
        reverse("studio:library"),
    ):
        assert when in _page(web, url, language), url


def test_the_korean_pages_say_me_or_my_pet_not_subject(web, user):
    library = _page(web, reverse("studio:library"), "ko")
    assert "새 모델 만들기" in library
    assert "첫 모델 만들기" in library
    subject = make_subject(user)
    pages = [
        library,
        _page(web, reverse("studio:new"), "ko"),
        _page(web, reverse("studio:subject", args=[subject.id]), "ko"),
    ]
    for page in pages:
        assert "대상" not in page
    assert "사진과 모델 모두 삭제" in pages[2]


def test_the_panels_are_as_wide_as_each_other_and_empty_facts_take_no_room(web, user):
    subject = accepted_subject(user)
    finish_training(studio_services.subject_train(subject=subject))
    page = _page(web, reverse("studio:subject", args=[subject.id]))
    assert '<section class="panel wide models-panel" id="models">' in page
    assert '<section class="panel wide" id="history">' in page
    css = (STUDIO_STATIC / "studio.css").read_text()
    assert ".training-facts > :empty { display: none; }" in css
    studio_services.subject_train(subject=accepted_subject(user, name="Kong"))
    library = _page(web, reverse("studio:library"))
    assert '</span><span class="job-eta">' in library


@pytest.mark.parametrize(
    ("language", "kind", "expected"),
    [
        ("en", "dog", "The dog is too small in this photo: move closer."),
        ("en", "cat", "The cat is too small in this photo: move closer."),
        ("ko", "dog", "사진 속 강아지가 너무 작아요. 더 가까이서 찍어 주세요."),
        ("ko", "cat", "사진 속 고양이가 너무 작아요. 더 가까이서 찍어 주세요."),
    ],
)
def test_every_photo_rejection_has_words_and_a_small_pet_is_named(language, kind, expected):
    from gpu_worker.contract.subject_photo_check import PhotoRejection
    from studio.messages import photo_rejection

    with translation.override(language):
        assert photo_rejection(PhotoRejection.SUBJECT_TOO_SMALL, kind=kind) == expected
        fallback = photo_rejection("no_such_code", kind=kind)  # the words of "unreadable"
        for code in set(PhotoRejection) - {PhotoRejection.UNREADABLE}:
            assert photo_rejection(code, kind=kind, min_face_px=128) != fallback, code


def test_nothing_can_be_added_to_a_subject_deleted_meanwhile(user):
    """A phone still uploading (or training) while the person deletes the subject on the web."""
    from django.http import Http404

    subject = accepted_subject(user)
    stale = Subject.objects.get(pk=subject.pk)  # what the other request loaded before the delete
    assert studio_services.subject_delete(subject=subject) is True
    with pytest.raises(Http404):
        add_photos(stale, [11])
    with pytest.raises(Http404):
        studio_services.subject_train(subject=stale)
    assert (Upload.objects.filter(owner=user).count(), GenerationJob.objects.filter(owner=user).count()) == (0, 0)
    assert owner_files(user) == []
    assert studio_services.subject_delete(subject=stale) is False


def test_the_retention_sweep_spares_a_subject_used_since_it_was_picked(user):
    subject = accepted_subject(user)
    long_ago = timezone.now() - datetime.timedelta(days=400)
    Subject.objects.filter(pk=subject.pk).update(last_used_at=long_ago)
    cutoff = timezone.now() - datetime.timedelta(days=90)
    studio_services.subject_touch(subject=subject)  # used after the sweep's query, before its delete
    assert studio_services.subject_delete(subject=subject, unused_before=cutoff) is False
    assert Subject.objects.filter(pk=subject.pk).exists()


def test_a_submission_key_sent_for_another_subject_trains_this_one(user):
    first, second = accepted_subject(user, name="Bori"), accepted_subject(user, name="Nabi")
    key = uuid.uuid4()
    one = studio_services.subject_train(subject=first, submission_id=key)
    assert studio_services.subject_train(subject=first, submission_id=key) == one, "a double tap is one training"
    other = studio_services.subject_train(subject=second, submission_id=key)
    assert (other.subject_id, other.job_id != one.job_id) == (second.pk, True)


def test_a_training_cancelled_once_started_still_counts_one_cancelled_in_the_queue_does_not(user, settings):
    from gpu_worker.contract.subject_training import KIND

    settings.STUDIO_DAILY_TRAININGS = 5
    queued = studio_services.subject_train(subject=accepted_subject(user, name="Bori"))
    assert job_services.job_cancel(job=queued.job) is True
    assert job_services.quota_of(owner=user, kind=KIND).used == 0
    started = studio_services.subject_train(subject=accepted_subject(user, name="Nabi"))
    assert job_services.job_mark_running(job_id=started.job_id) is True
    assert job_services.job_cancel(job=started.job) is True
    assert job_services.quota_of(owner=user, kind=KIND).used == 1


def test_a_failed_training_keeps_none_of_its_files(user):
    training = studio_services.subject_train(subject=accepted_subject(user))
    prefix = training.job.output_prefix
    default_storage.save(f"{prefix}checkpoints/step-00250.state", ContentFile(b"lora, tokens, optimiser"))
    default_storage.save(f"{prefix}previews/step-00250.png", ContentFile(b"a picture of someone"))
    assert job_services.job_fail(job_id=training.job_id, code="diverged", message="The loss became nan.") is True
    assert stored_files(prefix.rstrip("/")) == []
