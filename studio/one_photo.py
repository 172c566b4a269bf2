"""The one-photo studio profile: services and selectors (website and API share them).

One photo of a person becomes a studio profile picture; no subject, no training. The profile is a
`one_photo_profile` job of the engine (its id is the profile's id, its files under the job's output
prefix) and the photo is the job's `generation.Upload` (a normalised JPEG, metadata stripped).

Privacy: the photo is kept while a profile made from it exists ("another one" paints it again with
a new seed); deleting the last such profile deletes the photo, and `one_photo_profiles_expire`
deletes the profiles unused for SUBJECT_RETENTION_DAYS days (hourly, `ontop/periodic.py`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from generation import selectors as job_selectors
from generation import services as job_services
from generation.images import ImageRejected
from generation.models import GenerationJob, Upload
from gpu_worker.contract.one_photo_profile import BACKGROUNDS, KIND, PHOTO_INPUT, OnePhotoParams, OnePhotoResult
from gpu_worker.contract.tone import TONE_CHOICES
from studio.models import OnePhotoProfile

logger = logging.getLogger(__name__)

OPEN_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)
# A use moves `last_used_at` at most this often (a page view is a use; it need not write each time).
TOUCH_EVERY = timedelta(hours=1)
# The role of the finished picture among the job's outputs.
RESULT_ROLE = "result"

# The backdrops in the contract's order, with the colour of their swatch on the page.
BACKGROUND_SWATCHES: dict[str, str] = {
    "white": "#ffffff",
    "light_grey": "#d6d6d4",
    "sky_blue": "#bcd6ee",
    "beige": "#e6d5bb",
    "charcoal": "#3b3c3f",
}
BACKGROUND_NAMES = {
    "white": gettext_lazy("White"),
    "light_grey": gettext_lazy("Light grey"),
    "sky_blue": gettext_lazy("Sky blue"),
    "beige": gettext_lazy("Beige"),
    "charcoal": gettext_lazy("Charcoal"),
}
DEFAULT_BACKGROUND = "light_grey"
TONE_NAMES = {
    "auto": gettext_lazy("Auto"),
    "warm": gettext_lazy("Warm"),
    "cool": gettext_lazy("Cool"),
    "neutral": gettext_lazy("Neutral"),
}
assert list(BACKGROUND_SWATCHES) == list(BACKGROUNDS) == list(BACKGROUND_NAMES), "one swatch and name per backdrop"


class ConsentRequired(Exception):
    """A person's face: the photo needs their explicit consent."""


class InvalidChoice(Exception):
    """A tone or background the contract does not know; `field` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(f"unknown {field}")
        self.field = field


class PhotoGone(Exception):
    """The profile's photo is no longer stored: another one needs a new upload."""


# ---- words (shared by the pages and the API) ------------------------------------------------------


def background_label(code: str) -> str:
    return str(BACKGROUND_NAMES.get(code, code))


def tone_label(code: str) -> str:
    return str(TONE_NAMES.get(code, code))


def consent_message() -> str:
    return _("Please confirm that this is a photo of you, or that you have the right to use it.")


def tone_message() -> str:
    return _("Pick auto, warm or cool.")


def background_message() -> str:
    return _("Pick one of the backgrounds.")


def no_photo_message() -> str:
    return _("Choose a photo of yourself.")


def quota_message(limit: int) -> str:
    return _("You have used today's %(limit)s studio profiles. Come back tomorrow for more.") % {"limit": limit}


def photo_gone_message() -> str:
    return _("The photo of this profile is no longer stored. Start a new one with a photo.")


def retention_text() -> str:
    return _(
        "Private: only you can see your photo and your pictures. Your photo is kept while a profile made "
        "from it exists, so that you can ask for another one. A profile is deleted, with its photo, when "
        "you delete it or when you have not used it for %(days)s days."
    ) % {"days": settings.SUBJECT_RETENTION_DAYS}


def ai_notice() -> str:
    return _("AI-generated: not for passports or identity documents.")


# ---- reads ----------------------------------------------------------------------------------------


def one_photo_profiles_of(*, owner) -> QuerySet[OnePhotoProfile]:
    """Newest first; another person's profiles are never in it."""
    # How many other profiles share each one's photo, counted in the same query (photo_shared_with).
    same_photo = (
        OnePhotoProfile.objects.filter(owner=OuterRef("owner"), job__upload_id=OuterRef("job__upload_id"))
        .exclude(pk=OuterRef("pk"))
        .order_by()
        .values("owner")
        .annotate(count=Count("pk"))
        .values("count")[:1]
    )
    return (
        OnePhotoProfile.objects.filter(owner=owner, job__owner=owner)
        .select_related("job", "job__upload")
        .annotate(shared_with=Coalesce(Subquery(same_photo), 0))
        .order_by("-created_at", "-pk")
    )


def one_photo_profile_get(*, owner, profile_id) -> OnePhotoProfile:
    """The profile, or 404 (someone else's is 404 too)."""
    return get_object_or_404(one_photo_profiles_of(owner=owner), pk=profile_id)


def one_photo_result(profile: OnePhotoProfile) -> OnePhotoResult | None:
    """What the GPU made of it (tone used, its confidence...), once it succeeded."""
    return job_selectors.job_result(job=profile.job)


def one_photo_image_key(profile: OnePhotoProfile) -> str | None:
    return job_selectors.job_output_key(job=profile.job, role=RESULT_ROLE)


def photo_shared_with(profile: OnePhotoProfile) -> int:
    """How many of the person's other profiles were made from the same photo (counted by
    `one_photo_profiles_of` for a list: no query per row)."""
    if profile.job.upload_id is None:
        return 0
    annotated = getattr(profile, "shared_with", None)
    if annotated is not None:
        return annotated
    return (
        OnePhotoProfile.objects.filter(owner_id=profile.owner_id, job__upload_id=profile.job.upload_id)
        .exclude(pk=profile.pk)
        .count()
    )


def expires_at(profile: OnePhotoProfile) -> datetime:
    """When the retention sweep deletes it if it is not used again."""
    return profile.last_used_at + timedelta(days=settings.SUBJECT_RETENTION_DAYS)


@dataclass(frozen=True)
class ToneSummary:
    tone: str  # used: warm, cool or neutral
    requested: str  # auto, warm or cool
    confidence: float | None  # auto only: 0-1
    text: str  # "Tone: warm (auto, 82% sure)", in the reader's language


def tone_summary(result: OnePhotoResult | None) -> ToneSummary | None:
    """The tone the picture was painted in and why, in words (whole sentences: easier to translate)."""
    if result is None:
        return None
    if result.tone_requested != "auto":
        chosen = {"warm": _("Tone: warm (your choice)"), "cool": _("Tone: cool (your choice)")}
        text = chosen.get(result.tone, _("Tone: neutral"))
        return ToneSummary(tone=result.tone, requested=result.tone_requested, confidence=None, text=text)
    percent = {"percent": round(result.tone_confidence * 100)}
    if result.tone == "warm":
        text = _("Tone: warm (auto, %(percent)s%% sure)") % percent
    elif result.tone == "cool":
        text = _("Tone: cool (auto, %(percent)s%% sure)") % percent
    elif result.tone_confidence > 0:
        text = _("Tone: neutral (auto, %(percent)s%% sure)") % percent
    else:
        text = _("Tone: neutral (auto: your photo did not show warm or cool clearly)")
    return ToneSummary(tone=result.tone, requested="auto", confidence=result.tone_confidence, text=text)


# ---- writes ---------------------------------------------------------------------------------------


def one_photo_profile_create(
    *,
    owner,
    file,
    tone: str,
    background: str,
    consent: bool,
    submission_id: uuid.UUID | None = None,
) -> OnePhotoProfile:
    """Store the photo (normalised, metadata stripped) and start painting the profile.

    Order: input (InvalidChoice, ConsentRequired) → the day's quota (QuotaExceeded, before anything is
    stored) → the photo (ImageRejected: "empty", "too_large", "unsupported_format", "not_an_image",
    "too_small", "too_many_pixels"). Nothing stays stored when any of them refuses. The same
    submission_id twice returns the first profile (a double click or a retried request makes one)."""
    if tone not in TONE_CHOICES:
        raise InvalidChoice("tone")
    if background not in BACKGROUNDS:
        raise InvalidChoice("background")
    if not consent:
        raise ConsentRequired
    if submission_id is not None:
        earlier = _of_submission(owner=owner, submission_id=submission_id)
        if earlier is not None:
            return earlier
    quota = job_services.quota_of(owner=owner, kind=KIND)
    if quota.limit is not None and quota.remaining <= 0:
        raise job_services.QuotaExceeded(quota.limit)  # checked again under the lock by job_create
    if file is None or not getattr(file, "size", None):
        raise ImageRejected("empty", "The file is empty.")
    upload = job_services.upload_create(owner=owner, file=file)
    try:
        with transaction.atomic():
            now = timezone.now()
            job = job_services.job_create(
                owner=owner,
                kind=KIND,
                params=OnePhotoParams(seed=job_services.new_seed(), tone=tone, background=background),
                inputs={PHOTO_INPUT: upload.image.name},
                upload=upload,
                submission_id=submission_id,
            )
            profile, _ = OnePhotoProfile.objects.get_or_create(
                job=job,
                defaults={
                    "owner": owner,
                    "tone_requested": tone,
                    "background": background,
                    "consent_at": now,
                    "last_used_at": now,
                },
            )
    except Exception:
        _upload_delete(upload)
        raise
    if job.upload_id != upload.pk:  # the same submission, sent twice at once: the other one won
        _upload_delete(upload)
    return profile


def one_photo_profile_again(*, profile: OnePhotoProfile, submission_id: uuid.UUID | None = None) -> OnePhotoProfile:
    """Another one: the same photo, tone and background with a new seed. The photo's consent carries
    over (it is the same photo). Raises QuotaExceeded, PhotoGone, or Http404 when the profile was
    deleted meanwhile."""
    with transaction.atomic():
        # The profile's row lock: deleting it (and maybe its photo) waits, or this waits for the delete.
        source = OnePhotoProfile.objects.select_for_update().filter(pk=profile.pk).select_related("job").first()
        if source is None:
            raise Http404("The profile was deleted.")
        if submission_id is not None:
            earlier = _of_submission(owner=source.owner, submission_id=submission_id)
            if earlier is not None:
                return earlier
        upload = source.job.upload
        if upload is None or not upload.image or not default_storage.exists(upload.image.name):
            raise PhotoGone
        params = job_selectors.job_params(job=source.job)
        now = timezone.now()
        job = job_services.job_create(
            owner=source.owner,
            kind=KIND,
            params=OnePhotoParams(
                seed=job_services.new_seed(),
                tone=source.tone_requested,
                background=source.background,
                clothing_strength=params.clothing_strength,
            ),
            inputs={PHOTO_INPUT: upload.image.name},
            upload=upload,
            submission_id=submission_id,
        )
        again, _ = OnePhotoProfile.objects.get_or_create(
            job=job,
            defaults={
                "owner": source.owner,
                "tone_requested": source.tone_requested,
                "background": source.background,
                "consent_at": source.consent_at,
                "last_used_at": now,
            },
        )
        OnePhotoProfile.objects.filter(pk=source.pk).update(last_used_at=now)
    return again


def one_photo_profile_favourite(*, profile: OnePhotoProfile, favourite: bool) -> OnePhotoProfile:
    now = timezone.now()
    OnePhotoProfile.objects.filter(pk=profile.pk).update(favourite=favourite, last_used_at=now)
    profile.favourite, profile.last_used_at = favourite, now
    return profile


def one_photo_profile_touch(*, profile: OnePhotoProfile, now: datetime | None = None) -> None:
    """It was looked at or downloaded: retention counts from now (written at most hourly)."""
    now = now or timezone.now()
    if now - profile.last_used_at < TOUCH_EVERY:
        return
    OnePhotoProfile.objects.filter(pk=profile.pk).update(last_used_at=now)
    profile.last_used_at = now


def one_photo_profile_delete(*, profile: OnePhotoProfile, unused_before: datetime | None = None) -> bool:
    """Delete the profile for real: its job with everything under the job's output prefix (the picture,
    its thumbnail), and its photo unless another of the person's profiles was made from it. The
    day's count stays (a deleted picture was still painted). With `unused_before` (the retention
    sweep) only if still unused since then and not being painted. Returns whether it was deleted."""
    with transaction.atomic():
        locked = OnePhotoProfile.objects.select_for_update().filter(pk=profile.pk).select_related("job").first()
        if locked is None:
            return False
        if unused_before is not None and (locked.last_used_at >= unused_before or locked.job.status in OPEN_STATUSES):
            return False
        # The job's files and, when no other job uses it, the photo's row and file (the engine's rule).
        job_services.job_delete(job=locked.job)
    return True


def one_photo_profiles_expire(*, now: datetime | None = None) -> int:
    """Delete (as `one_photo_profile_delete` does) the profiles unused for SUBJECT_RETENTION_DAYS days.
    One still being painted is in use. Returns how many were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SUBJECT_RETENTION_DAYS)
    stale = (
        OnePhotoProfile.objects.filter(last_used_at__lt=cutoff)
        .exclude(job__status__in=OPEN_STATUSES)
        .order_by("last_used_at")[:500]
    )
    deleted = 0
    for profile in list(stale):
        try:
            # Checked again under the lock: it may have been used since the query.
            deleted += one_photo_profile_delete(profile=profile, unused_before=cutoff)
        except Exception:  # one bad profile must not keep every other one forever
            logger.exception("could not delete expired one-photo profile %s", profile.pk)
    return deleted


def _of_submission(*, owner, submission_id: uuid.UUID) -> OnePhotoProfile | None:
    return one_photo_profiles_of(owner=owner).filter(job__submission_id=submission_id).first()


def _upload_delete(upload: Upload) -> None:
    """A photo no job took: its row, then its file."""
    key = upload.image.name
    with transaction.atomic():
        if not GenerationJob.objects.filter(upload=upload).exists():
            Upload.objects.filter(pk=upload.pk).delete()
        else:
            return
    if key:
        default_storage.delete(key)
