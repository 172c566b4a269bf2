"""The one-photo studio profile on the website: the form (one photo, tone, background, consent), every
refusal in English and Korean with nothing stored, the quota, live progress, the finished picture
with its tone, download, favourite, "another one", deletion of every file, owner isolation,
retention, and one real run through the GPU worker (tiny preset)."""

from __future__ import annotations

import datetime
import html
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
from PIL import Image

from generation import services as job_services
from generation.models import DeletedUsage, GenerationJob, Upload
from gpu_worker.contract import ErrorCode, JobResult, JobStatus, OutputImage
from gpu_worker.contract.codec import encode
from gpu_worker.contract.one_photo_profile import BACKGROUNDS, KIND, OnePhotoParams, OnePhotoResult
from gpu_worker.contract.tone import SkinReading
from ontop.periodic import PERIODIC_JOBS
from studio import one_photo
from studio.models import OnePhotoProfile
from tests.test_studio_web import image_bytes, owner_files, photo_file, run_workers, stored_files, subject_photo

pytestmark = pytest.mark.django_db(transaction=True)

STATIC = Path(__file__).resolve().parent.parent / "studio" / "static" / "studio"
NEW = "/studio/one-photo/new/"
LIST = "/studio/one-photo/"


# ---- helpers (the API's tests use them too) ------------------------------------------------------


def make_profile(owner, seed: int = 1, *, tone: str = "auto", background: str = "light_grey", **kwargs):
    return one_photo.one_photo_profile_create(
        owner=owner, file=photo_file(seed), tone=tone, background=background, consent=True, **kwargs
    )


def finish_profile(
    profile: OnePhotoProfile,
    *,
    tone: str = "warm",
    confidence: float = 0.82,
    size: tuple[int, int] = (256, 320),
) -> str:
    """What the GPU worker and finalize do for a profile: the picture under the job's prefix and a
    typed result. Returns the picture's key."""
    job = profile.job
    params = OnePhotoParams(**job.spec["params"])
    key = default_storage.save(
        f"{job.output_prefix}result.png", ContentFile(image_bytes(Image.new("RGB", size, (200, 190, 180)), "PNG"))
    )
    result = OnePhotoResult(
        seed=params.seed,
        tone=tone,
        tone_requested=params.tone,
        tone_confidence=confidence if params.tone == "auto" else 1.0,
        skin=SkinReading(lightness=65.0, a=14.0, b=22.0, pixels=4000),
        background=params.background,
        prompt="professional studio portrait photo of a person",
        scheduler="default",
        width=size[0],
        height=size[1],
    )
    envelope = JobResult(
        job_id=str(job.id),
        status=JobStatus.SUCCEEDED,
        outputs=[OutputImage(role="result", key=key, width=size[0], height=size[1])],
        data=encode(result),
    )
    assert job_services.job_finalize(job_id=job.id, result=envelope)
    profile.job.refresh_from_db()
    return key


def fail_profile(profile: OnePhotoProfile, code: str) -> None:
    assert job_services.job_fail(job_id=profile.job_id, code=code, message="")
    profile.job.refresh_from_db()


def person_photo_bytes() -> bytes:
    """Noise with a face-coloured patch: what the tiny preset's GPU run takes for a person."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(60, 200, size=(320, 256, 3), dtype=np.uint8)
    pixels[40:140, 90:170] = (224, 172, 140)
    return image_bytes(Image.fromarray(pixels), "PNG")


def gif_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("moving.gif", image_bytes(subject_photo(3), "GIF"), content_type="image/gif")


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
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _post_new(web, language="en", **fields):
    data = {"tone": "auto", "background": "light_grey", "consent": "on", "submission_id": str(uuid.uuid4())}
    data.update(fields)
    if "photo" not in data:
        data["photo"] = photo_file(1)
    data = {key: value for key, value in data.items() if value is not None}
    return web.post(NEW, data, HTTP_ACCEPT_LANGUAGE=language)


def _errors(page: str) -> list[str]:
    found = re.findall(r'role="alert"[^>]*>(.*?)</(?:div|p)>', page, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for text in found]


def _nothing_stored(user) -> None:
    assert (OnePhotoProfile.objects.count(), GenerationJob.objects.count(), Upload.objects.count()) == (0, 0, 0)
    assert owner_files(user) == []


# ---- the pages -----------------------------------------------------------------------------------


def test_the_pages_need_an_account(client, db):
    for url in (LIST, NEW, f"{LIST}{uuid.uuid4()}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login")), url


def test_the_handler_links_resolve_to_these_pages(user):
    profile = make_profile(user)
    assert reverse("studio:one_photo_new") == NEW
    assert reverse("studio:one_photo_list") == LIST
    from generation.handlers import handler_for

    assert handler_for(KIND).detail_url(profile.job) == f"{LIST}{profile.pk}/"


def test_the_form_has_one_photo_the_tones_the_backgrounds_consent_and_the_privacy_note(web, settings):
    settings.SUBJECT_RETENTION_DAYS = 30
    page = _page(web, NEW)
    assert 'enctype="multipart/form-data"' in page
    assert re.search(
        r'<input type="file" name="photo" id="photo-input" class="file-input" accept="image/\*,.heic,.heif">', page
    )
    assert " multiple" not in page.split('id="photo-input"')[1].split(">")[0]
    tones = re.findall(r'<input type="radio" name="tone" value="(\w+)"', page)
    assert tones == ["auto", "warm", "cool"]
    assert re.search(r'<input type="radio" name="tone" value="auto"[^>]*checked', page)
    assert re.search(r'<input type="radio" name="background" value="light_grey"[^>]*checked', page)
    assert "We read your skin's undertone in the photo and pick warm or cool for you." in page
    assert "Golden, peachy light. Suits warm (yellow or olive) undertones." in page
    assert "Clear, slightly blue light. Suits cool (pink or rosy) undertones." in page
    backgrounds = re.findall(r'<input type="radio" name="background" value="(\w+)"', page)
    assert backgrounds == list(BACKGROUNDS)
    names = re.findall(r'class="swatch-name">([^<]+)<', page)
    assert names == ["White", "Light grey", "Sky blue", "Beige", "Charcoal"]
    assert page.count('class="swatch-colour" data-swatch="background: #') == 5
    assert 'name="consent"' in page
    assert "This is a photo of me, or I have the right to use it." in page
    assert (
        "Private: only you can see your photo and your pictures. Your photo is kept while a profile made from it "
        "exists, so that you can ask for another one. A profile is deleted, with its photo, when you delete it or "
        "when you have not used it for 30 days."
    ) in page
    assert "AI-generated: not for passports or identity documents." in page
    assert "10 of 10 studio profiles left today." in page
    assert 'src="/static/studio/one_photo.js"' in page


def test_the_form_speaks_korean(web):
    page = _page(web, NEW, "ko")
    names = re.findall(r'class="swatch-name">([^<]+)<', page)
    assert names == ["흰색", "밝은 회색", "하늘색", "베이지", "차콜"]
    assert "AI로 만든 사진이에요. 여권이나 신분증에는 쓸 수 없어요." in page
    assert "이 사진은 제 사진이거나, 제가 사용할 권리가 있는 사진이에요." in page


def test_a_profile_is_one_job_with_the_photo_tone_and_background(web, user):
    response = _post_new(web, tone="cool", background="sky_blue")
    profile = OnePhotoProfile.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"{LIST}{profile.pk}/")
    job = profile.job
    upload = Upload.objects.get()
    assert (job.kind, job.owner, job.upload, job.status) == (KIND, user, upload, "queued")
    assert job.spec["inputs"] == {"photo": upload.image.name}
    params = OnePhotoParams(**job.spec["params"])
    assert (params.tone, params.background, params.clothing_strength) == ("cool", "sky_blue", 0.35)
    assert (profile.owner, profile.tone_requested, profile.background, profile.favourite) == (
        user,
        "cool",
        "sky_blue",
        False,
    )
    assert abs((timezone.now() - profile.consent_at).total_seconds()) < 30
    assert upload.image.name.startswith(f"uploads/{user.pk}/")
    # Normalised: a JPEG, whatever was sent.
    with default_storage.open(upload.image.name, "rb") as handle:
        assert Image.open(handle).format == "JPEG"


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Please confirm that this is a photo of you, or that you have the right to use it."),
        ("ko", "본인의 사진이거나 사용할 권리가 있는 사진인지 확인해 주세요."),
    ],
)
def test_without_consent_nothing_is_stored(web, user, language, message):
    response = _post_new(web, language, consent=None)
    assert response.status_code == 400
    assert _errors(response.content.decode()) == [message]
    _nothing_stored(user)


@pytest.mark.parametrize(
    ("fields", "status", "english", "korean"),
    [
        (
            {"photo": lambda: SimpleUploadedFile("notes.jpg", b"this is not a photo", content_type="image/jpeg")},
            400,
            "This file is not a photo we can read.",
            "읽을 수 있는 사진 파일이 아니에요.",
        ),
        (
            {"photo": SimpleUploadedFile("empty.jpg", b"", content_type="image/jpeg")},
            400,
            "This file is empty.",
            "빈 파일이에요.",
        ),
        ({"photo": None}, 400, "Choose a photo of yourself.", "본인 사진을 한 장 골라 주세요."),
        ({"tone": "sepia"}, 400, "Pick auto, warm or cool.", "자동, 따뜻한 톤, 차가운 톤 중에서 골라 주세요."),
        ({"background": "jungle"}, 400, "Pick one of the backgrounds.", "배경을 하나 골라 주세요."),
    ],
)
@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_bad_photo_or_choice_is_refused_in_the_readers_language(web, user, fields, status, english, korean, language):
    fields = {key: value() if callable(value) else value for key, value in fields.items()}
    response = _post_new(web, language, **fields)
    assert response.status_code == status
    assert _errors(response.content.decode()) == [english if language == "en" else korean]
    _nothing_stored(user)


def test_a_photo_too_large_is_413_and_another_format_415(web, user, settings):
    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    huge = SimpleUploadedFile("huge.jpg", b"\xff\xd8" + b"0" * (1024 * 1024 + 10), content_type="image/jpeg")
    response = _post_new(web, photo=huge)
    assert response.status_code == 413
    assert _errors(response.content.decode()) == ["This file is larger than 1 MB."]
    response = _post_new(web, "ko", photo=gif_file())
    assert response.status_code == 415
    assert _errors(response.content.decode()) == ["JPEG, PNG, WebP, HEIC 사진을 올려 주세요."]
    _nothing_stored(user)


def test_what_was_chosen_stays_chosen_after_a_refusal(web):
    response = _post_new(web, consent=None, tone="warm", background="charcoal")
    page = response.content.decode()
    assert re.search(r'name="tone" value="warm"[^>]*checked', page)
    assert re.search(r'name="background" value="charcoal"[^>]*checked', page)


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "You have used today's 1 studio profiles. Come back tomorrow for more."),
        ("ko", "오늘 만들 수 있는 스튜디오 프로필 1장을 모두 만들었어요. 내일 다시 만들어 주세요."),
    ],
)
def test_the_day_has_a_limit_and_nothing_is_stored_past_it(web, user, settings, language, message):
    settings.STUDIO_DAILY_ONE_PHOTO_PROFILES = 1
    assert _post_new(web).status_code == 302
    response = _post_new(web, language, photo=photo_file(2))
    assert response.status_code == 429
    assert _errors(response.content.decode()) == [message]
    assert 'id="make-profile" disabled' in response.content.decode()
    assert (OnePhotoProfile.objects.count(), Upload.objects.count()) == (1, 1)
    assert len(stored_files(f"uploads/{user.pk}")) == 1


def test_a_double_submitted_form_makes_one_profile(web, user):
    submission = str(uuid.uuid4())
    first = _post_new(web, submission_id=submission)
    second = _post_new(web, submission_id=submission, photo=photo_file(2))
    assert first["Location"] == second["Location"]
    assert (OnePhotoProfile.objects.count(), Upload.objects.count()) == (1, 1)
    assert len(stored_files(f"uploads/{user.pk}")) == 1


def test_the_page_script_sends_once_and_takes_a_dropped_photo():
    script = (STATIC / "one_photo.js").read_text()
    assert 'document.querySelectorAll("form.once")' in script
    assert 'zone.addEventListener("drop"' in script
    assert "transfer.items.add(files[0])" in script


def test_the_phone_layout_stacks_the_tones_and_keeps_five_swatches_in_a_row():
    css = (STATIC / "one_photo.css").read_text()
    phone = css.split("@media (max-width: 600px)")[1]
    assert ".tones { grid-template-columns: 1fr; }" in phone
    assert ".backgrounds { grid-template-columns: repeat(5, minmax(0, 1fr));" in phone


# ---- progress and the finished picture -----------------------------------------------------------


def test_while_it_is_painted_the_page_polls_the_jobs_state(web, user):
    profile = make_profile(user)
    page = _page(web, f"{LIST}{profile.pk}/")
    status_url = reverse("generation:job_status", args=[profile.pk])
    assert f'data-status-url="{status_url}"' in page
    assert 'data-status="queued"' in page
    assert 'src="/static/js/job.js"' in page
    assert f'action="{reverse("generation:job_cancel", args=[profile.pk])}"' in page
    assert 'id="picture"' not in page
    assert 'id="delete"' not in page
    state = web.get(status_url).json()
    assert (state["status"], state["stage"]) == ("queued", "queued")


def test_a_finished_profile_shows_the_picture_its_tone_and_what_to_do_next(web, user):
    profile = make_profile(user, tone="auto", background="beige")
    finish_profile(profile, tone="warm", confidence=0.82)
    page = _page(web, f"{LIST}{profile.pk}/")
    image_url = reverse("studio:one_photo_image", args=[profile.pk])
    assert f'<img src="{image_url}"' in page
    assert 'id="tone-summary">Tone: warm (auto, 82% sure)<' in page
    assert "AI-generated: not for passports or identity documents." in page
    assert f'href="{image_url}?download=1"' in page
    for button in ('id="favourite"', 'id="another-one"', 'id="delete"'):
        assert button in page
    assert "Delete this picture and your photo?" in page
    assert "Beige" in page
    korean = _page(web, f"{LIST}{profile.pk}/", "ko")
    assert 'id="tone-summary">톤: 따뜻한 톤 (자동 판단, 확신도 82%)<' in korean


@pytest.mark.parametrize(
    ("requested", "tone", "confidence", "text"),
    [
        ("auto", "warm", 0.82, "Tone: warm (auto, 82% sure)"),
        ("auto", "cool", 0.5, "Tone: cool (auto, 50% sure)"),
        ("auto", "neutral", 0.75, "Tone: neutral (auto, 75% sure)"),
        ("auto", "neutral", 0.0, "Tone: neutral (auto: your photo did not show warm or cool clearly)"),
        ("warm", "warm", 1.0, "Tone: warm (your choice)"),
        ("cool", "cool", 1.0, "Tone: cool (your choice)"),
    ],
)
def test_the_tone_is_said_as_the_result_says_it(user, requested, tone, confidence, text):
    profile = make_profile(user, tone=requested)
    finish_profile(profile, tone=tone, confidence=confidence)
    with translation.override("en"):
        summary = one_photo.tone_summary(one_photo.one_photo_result(profile))
    assert summary.text == text
    assert summary.confidence == (confidence if requested == "auto" else None)


def test_download_favourite_and_another_one(web, user):
    profile = make_profile(user, tone="cool", background="charcoal")
    finish_profile(profile, tone="cool")
    image = web.get(reverse("studio:one_photo_image", args=[profile.pk]))
    assert (image.status_code, image["Cache-Control"]) == (200, "private, no-store")
    assert Image.open(io.BytesIO(b"".join(image.streaming_content))).size == (256, 320)
    download = web.get(reverse("studio:one_photo_image", args=[profile.pk]) + "?download=1")
    stamp = timezone.localtime(profile.created_at).strftime("%Y%m%d-%H%M")
    assert download["Content-Disposition"] == f'attachment; filename="ontop-profile-{stamp}.png"'
    assert download["Cache-Control"] == "private, no-store"

    response = web.post(reverse("studio:one_photo_favourite", args=[profile.pk]), {"favourite": "1"})
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.favourite is True
    page = _page(web, f"{LIST}{profile.pk}/")
    assert 'aria-pressed="true"' in page
    assert "Added to your favourites." in page
    web.post(reverse("studio:one_photo_favourite", args=[profile.pk]), {"favourite": "0"})
    profile.refresh_from_db()
    assert profile.favourite is False

    response = web.post(reverse("studio:one_photo_again", args=[profile.pk]), {"submission_id": str(uuid.uuid4())})
    again = OnePhotoProfile.objects.exclude(pk=profile.pk).get()
    assert response["Location"] == f"{LIST}{again.pk}/"
    assert (again.tone_requested, again.background, again.consent_at) == ("cool", "charcoal", profile.consent_at)
    assert again.job.upload_id == profile.job.upload_id
    assert again.job.spec["inputs"] == profile.job.spec["inputs"]
    old, new = OnePhotoParams(**profile.job.spec["params"]), OnePhotoParams(**again.job.spec["params"])
    assert (new.tone, new.background) == (old.tone, old.background)
    assert new.seed != old.seed
    assert Upload.objects.count() == 1
    page = _page(web, f"{LIST}{again.pk}/")
    assert "Your photo is also used by 1 other profile picture: it is deleted with the last of them." in page


def test_another_one_past_the_days_limit_says_so(web, user, settings):
    settings.STUDIO_DAILY_ONE_PHOTO_PROFILES = 1
    profile = make_profile(user)
    finish_profile(profile)
    response = web.post(reverse("studio:one_photo_again", args=[profile.pk]), follow=True)
    assert "You have used today&#x27;s 1 studio profiles. Come back tomorrow for more." in response.content.decode()
    assert OnePhotoProfile.objects.count() == 1
    assert 'id="another-one" disabled' in response.content.decode()


@pytest.mark.parametrize(
    ("code", "message", "offer"),
    [
        ("no_person", "We could not find a person in this photo. Please use a photo of you.", 'id="new-photo"'),
        (
            "several_people",
            "There is more than one person in this photo. Please use a photo of just you.",
            'id="new-photo"',
        ),
        (
            "no_face",
            "We could not see a face in this photo. Please use a photo that shows your face.",
            'id="new-photo"',
        ),
        (ErrorCode.WORKER_LOST, "We lost track of this picture. Please try again.", 'id="retry"'),
    ],
)
def test_a_failure_says_why_and_offers_what_can_help(web, user, code, message, offer):
    profile = make_profile(user)
    fail_profile(profile, code)
    page = _page(web, f"{LIST}{profile.pk}/")
    assert f"<p>{message}</p>" in page.replace("&#x27;", "'")
    assert offer in page
    assert 'id="delete"' in page
    assert web.get(reverse("studio:one_photo_image", args=[profile.pk])).status_code == 404


def test_the_list_shows_mine_newest_first(web, user, other_user):
    first = make_profile(user, 1)
    second = make_profile(user, 2)
    finish_profile(first)
    make_profile(other_user, 3)
    web.post(reverse("studio:one_photo_favourite", args=[first.pk]), {"favourite": "1"})
    page = _page(web, LIST)
    ids = re.findall(r'id="profile-([0-9a-f-]{36})"', page)
    assert ids == [str(second.pk), str(first.pk)]
    assert f'src="{reverse("studio:one_photo_thumb", args=[first.pk])}"' in page
    assert page.count("★") == 1
    assert f'href="{NEW}"' in page
    thumb = web.get(reverse("studio:one_photo_thumb", args=[first.pk]))
    assert (thumb.status_code, thumb["Cache-Control"]) == (200, "private, no-store")
    assert web.get(reverse("studio:one_photo_thumb", args=[second.pk])).status_code == 404


def test_the_photo_it_was_made_from_is_served_small_and_privately(web, user):
    profile = make_profile(user)
    response = web.get(reverse("studio:one_photo_photo", args=[profile.pk]))
    assert (response.status_code, response["Content-Type"], response["Cache-Control"]) == (
        200,
        "image/jpeg",
        "private, no-store",
    )


# ---- deletion, privacy, retention ----------------------------------------------------------------


def test_deleting_removes_every_file_and_the_photo_goes_with_the_last_profile(web, user, other_user):
    theirs = make_profile(other_user, 9)
    finish_profile(theirs)
    profile = make_profile(user)
    finish_profile(profile)
    again = one_photo.one_photo_profile_again(profile=profile)
    finish_profile(again)
    web.get(reverse("studio:one_photo_thumb", args=[profile.pk]))  # the list's thumbnail is a file too
    photo_key = Upload.objects.get(owner=user).image.name
    assert stored_files(f"results/{user.pk}/{profile.pk}") == [
        f"results/{user.pk}/{profile.pk}/result.png",
        f"results/{user.pk}/{profile.pk}/thumb.jpg",
    ]

    response = web.post(reverse("studio:one_photo_delete", args=[profile.pk]), follow=True)
    assert (
        "The picture was deleted. Your photo is kept for your other profiles made from it." in response.content.decode()
    )
    assert stored_files(f"results/{user.pk}/{profile.pk}") == []
    assert default_storage.exists(photo_key)
    assert not OnePhotoProfile.objects.filter(pk=profile.pk).exists()

    response = web.post(reverse("studio:one_photo_delete", args=[again.pk]), follow=True)
    assert "The picture and your photo were deleted." in response.content.decode()
    assert owner_files(user) == []
    assert not default_storage.exists(photo_key)
    assert (OnePhotoProfile.objects.filter(owner=user).count(), Upload.objects.filter(owner=user).count()) == (0, 0)
    assert not GenerationJob.objects.filter(owner=user).exists()
    # The other person's profile is untouched, and the day's count stays: deleting gives nothing back.
    assert owner_files(other_user) != []
    assert job_services.quota_of(owner=user, kind=KIND).used == 2
    assert DeletedUsage.objects.get(owner=user, kind=KIND).count == 2


def test_deleting_one_being_painted_stops_it_and_deletes_its_photo(user):
    profile = make_profile(user)
    photo_key = profile.job.upload.image.name
    assert one_photo.one_photo_profile_delete(profile=profile) is True
    assert not default_storage.exists(photo_key)
    assert owner_files(user) == []
    assert not GenerationJob.objects.exists()


def test_other_peoples_profiles_are_404(web, other_user):
    profile = make_profile(other_user)
    finish_profile(profile)
    for method, url in [
        ("get", reverse("studio:one_photo", args=[profile.pk])),
        ("get", reverse("studio:one_photo_image", args=[profile.pk])),
        ("get", reverse("studio:one_photo_image", args=[profile.pk]) + "?download=1"),
        ("get", reverse("studio:one_photo_thumb", args=[profile.pk])),
        ("get", reverse("studio:one_photo_photo", args=[profile.pk])),
        ("get", reverse("generation:job_status", args=[profile.pk])),
        ("post", reverse("studio:one_photo_again", args=[profile.pk])),
        ("post", reverse("studio:one_photo_favourite", args=[profile.pk])),
        ("post", reverse("studio:one_photo_delete", args=[profile.pk])),
    ]:
        assert getattr(web, method)(url).status_code == 404, url
    assert 'id="profile-' not in _page(web, LIST)
    profile.refresh_from_db()
    assert (profile.favourite, OnePhotoProfile.objects.count()) == (False, 1)


def test_the_retention_sweep_deletes_profiles_unused_for_the_retention_period(user, settings):
    settings.SUBJECT_RETENTION_DAYS = 30
    old = make_profile(user, 1)
    finish_profile(old)
    recent = make_profile(user, 2)
    finish_profile(recent)
    painting = make_profile(user, 3)
    long_ago = timezone.now() - datetime.timedelta(days=31)
    OnePhotoProfile.objects.filter(pk__in=[old.pk, painting.pk]).update(last_used_at=long_ago)
    OnePhotoProfile.objects.filter(pk=recent.pk).update(last_used_at=timezone.now() - datetime.timedelta(days=29))
    old_photo = old.job.upload.image.name
    assert one_photo.one_photo_profiles_expire() == 1
    assert set(OnePhotoProfile.objects.values_list("pk", flat=True)) == {recent.pk, painting.pk}
    assert stored_files(f"results/{user.pk}/{old.pk}") == []
    assert not default_storage.exists(old_photo)
    # A day later, the recent one has gone 30 days unused too.
    assert one_photo.one_photo_profiles_expire(now=timezone.now() + datetime.timedelta(days=2)) == 1
    assert set(OnePhotoProfile.objects.values_list("pk", flat=True)) == {painting.pk}


def test_looking_at_a_profile_is_a_use(web, user):
    profile = make_profile(user)
    finish_profile(profile)
    long_ago = timezone.now() - datetime.timedelta(days=60)
    OnePhotoProfile.objects.filter(pk=profile.pk).update(last_used_at=long_ago)
    _page(web, f"{LIST}{profile.pk}/")
    profile.refresh_from_db()
    assert (timezone.now() - profile.last_used_at).total_seconds() < 30


def test_the_sweep_runs_hourly():
    job = next(job for job in PERIODIC_JOBS if job.function == "studio.one_photo.one_photo_profiles_expire")
    assert job.interval_seconds == 3600
    from django.utils.module_loading import import_string

    assert import_string(job.function) is one_photo.one_photo_profiles_expire


# ---- the real GPU worker -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_profile_through_the_real_gpu_worker(web, user):
    pytest.importorskip("gpu_worker.workflows.one_photo_profile.workflow")
    photo = SimpleUploadedFile("me.png", person_photo_bytes(), content_type="image/png")
    response = _post_new(web, photo=photo, tone="auto", background="sky_blue")
    assert response.status_code == 302
    run_workers()
    profile = OnePhotoProfile.objects.get()
    profile.job.refresh_from_db()
    assert profile.job.status == "succeeded", (profile.job.error_code, profile.job.error_message)
    result = one_photo.one_photo_result(profile)
    assert (result.tone_requested, result.background) == ("auto", "sky_blue")
    assert result.tone in ("warm", "cool", "neutral")
    page = _page(web, f"{LIST}{profile.pk}/")
    assert f'id="tone-summary">{one_photo.tone_summary(result).text}<' in page
    image = web.get(reverse("studio:one_photo_image", args=[profile.pk]))
    assert image.status_code == 200
    picture = Image.open(io.BytesIO(b"".join(image.streaming_content)))
    assert picture.size == (result.width, result.height)
    # Deleting it deletes everything it ever had: the picture and the photo.
    web.post(reverse("studio:one_photo_delete", args=[profile.pk]))
    assert owner_files(user) == []
    assert (OnePhotoProfile.objects.count(), GenerationJob.objects.count(), Upload.objects.count()) == (0, 0, 0)
