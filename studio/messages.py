"""What the studio says to people, in their language; shared by the website and the API."""

from __future__ import annotations

from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from gpu_worker.contract.portrait import PACK_MAX, PACK_MIN
from gpu_worker.contract.subject_photo_check import MAX_PHOTOS, PhotoRejection
from gpu_worker.contract.subject_training import MIN_PHOTOS
from studio.models import SubjectKind

DEFAULT_MIN_FACE_PX = 128


def consent_required() -> str:
    return _("Please confirm that these are photos of you, or that you have the right to use them.")


def subject_limit(limit: int) -> str:
    return _("You can have at most %(limit)s subjects. Delete one you no longer need first.") % {"limit": limit}


def photo_limit(room: int, *, rejected: bool) -> str:
    if rejected:
        return _("This subject has too many rejected photos. Remove some of them before adding more.")
    if room <= 0:
        return _("A subject can have at most %(max)s photos. Remove some before adding more.") % {"max": MAX_PHOTOS}
    return _("A subject can have at most %(max)s photos: you can add %(room)s more.") % {
        "max": MAX_PHOTOS,
        "room": room,
    }


def no_files() -> str:
    return _("Choose at least one photo.")


def photo_in_use() -> str:
    return _("This photo is being used by the training that is running. Remove it once the training is done.")


def nothing_to_check() -> str:
    return _("There are no photos waiting to be checked again.")


def not_enough_photos(accepted: int, checking: int = 0) -> str:
    if checking:
        return ngettext(
            "%(checking)s photo is still being checked. Train once its check is done "
            "(a personal model needs at least %(min)s accepted photos).",
            "%(checking)s photos are still being checked. Train once their check is done "
            "(a personal model needs at least %(min)s accepted photos).",
            checking,
        ) % {"checking": checking, "min": MIN_PHOTOS}
    return _("A personal model needs at least %(min)s accepted photos; this subject has %(accepted)s.") % {
        "min": MIN_PHOTOS,
        "accepted": accepted,
    }


def not_found() -> str:
    return _("We couldn't find that. It may have been deleted.")


def training_in_progress() -> str:
    return _("This subject is already being trained. Wait for it to finish or cancel it.")


def quota(limit: int) -> str:
    return _("You have used today's %(limit)s trainings. Come back tomorrow for more.") % {"limit": limit}


def nothing_to_cancel() -> str:
    return _("No training of this subject is running.")


def retention_text() -> str:
    days = settings.SUBJECT_RETENTION_DAYS
    return _(
        "Your photos are deleted as soon as the training succeeds, unless you tick “Keep my photos”. "
        "Of their skin colour, only the tone read from it (warm, cool or neutral) stays with the model. "
        "The personal model is kept until you delete it, or until it has not been used for %(days)s days."
    ) % {"days": days}


# The file could not be stored (generation.images.ImageRejected codes).
def file_rejected(code: str) -> str:
    messages = {
        "empty": _("This file is empty."),
        "too_large": _("This file is larger than %(mb)s MB.") % {"mb": settings.UPLOAD_MAX_BYTES // (1024 * 1024)},
        "unsupported_format": _("Please upload a JPEG, PNG, WebP or HEIC photo."),
        "too_many_pixels": _("This photo's dimensions are too large."),
        "too_small": _("This photo is too small: it must be at least 64 pixels on each side."),
    }
    return messages.get(code) or _("This file is not a photo we can read.")


def photo_rejection(code: str, *, kind: str, min_face_px: int | None = None) -> str:
    """Why the check rejected a photo, in words a person understands."""
    if code == PhotoRejection.NO_SUBJECT:
        return {
            SubjectKind.PERSON: _("We could not find a person in this photo."),
            SubjectKind.DOG: _("We could not find a dog in this photo."),
            SubjectKind.CAT: _("We could not find a cat in this photo."),
        }.get(kind, _("We could not find a person in this photo."))
    if code == PhotoRejection.SEVERAL_SUBJECTS:
        return {
            SubjectKind.PERSON: _("Two or more people are in this photo."),
            SubjectKind.DOG: _("Two or more dogs are in this photo."),
            SubjectKind.CAT: _("Two or more cats are in this photo."),
        }.get(kind, _("Two or more people are in this photo."))
    if code == PhotoRejection.NO_FACE:
        return _("We could not see a face. Use a photo where the face is clearly visible.")
    if code == PhotoRejection.FACE_TOO_SMALL:
        return _("The face is too small: move closer (at least %(px)s pixels).") % {
            "px": min_face_px or DEFAULT_MIN_FACE_PX
        }
    if code == PhotoRejection.SUBJECT_TOO_SMALL:
        return {
            SubjectKind.CAT: _("The cat is too small in this photo: move closer."),
        }.get(kind, _("The dog is too small in this photo: move closer."))
    if code == PhotoRejection.BLURRY:
        return _("This photo is blurry.")
    if code == PhotoRejection.DUPLICATE:
        return _("This photo is almost the same as another one.")
    return _("We could not read this photo.")


def photo_unchecked() -> str:
    return _("This photo could not be checked.")


# ---- portraits: profile packs -------------------------------------------------------------------


def pack_invalid(code: str) -> str:
    """A pack's input that cannot be taken (studio.services.PackInvalid codes)."""
    from gpu_worker.contract.portrait import MAX_INSTRUCTION_CHARS, PACK_MAX, PACK_MIN

    messages = {
        "concept_unavailable": _("Pick one of the concepts offered for this model."),
        "pose_not_for_pets": _("Poses are for people: a pet's picture follows your words instead."),
        "pose_unavailable": _("Pick one of the poses offered for this concept."),
        "tone_unavailable": _("Pick one of the tones offered for this concept."),
        "instruction_not_for_people": _("Your own words are for pets' pictures: a person's follows the pose."),
        "instruction_too_long": _("Your words can have at most %(max)s characters.") % {"max": MAX_INSTRUCTION_CHARS},
        "size_out_of_range": _("A pack has %(min)s to %(max)s pictures.") % {"min": PACK_MIN, "max": PACK_MAX},
    }
    return messages.get(code) or _("This request could not be understood. Please try again.")


def no_model() -> str:
    return _("This has no finished personal model yet. Train one first, then make a pack.")


def portrait_quota(limit: int, remaining: int, size: int) -> str:
    if remaining <= 0:
        return _("You have used today's %(limit)s portraits. Come back tomorrow for more.") % {"limit": limit}
    return ngettext(
        "A pack of %(size)s pictures does not fit: you have %(remaining)s portrait left today. "
        "Make a smaller pack, or come back tomorrow.",
        "A pack of %(size)s pictures does not fit: you have %(remaining)s portraits left today. "
        "Make a smaller pack, or come back tomorrow.",
        remaining,
    ) % {"size": size, "remaining": remaining}


def pack_nothing_to_cancel() -> str:
    return _("Every picture of this pack is already done.")


def ai_notice() -> str:
    return _("AI-generated pictures: not for passports or identity documents.")


def tone_auto_label(tone: str, confidence: float | None) -> str:
    """What "auto" decided, e.g. "Auto: warm (82 % sure)" or "Auto: neutral — we could not tell"."""
    names = {"warm": _("warm"), "cool": _("cool"), "neutral": _("neutral")}
    name = names.get(tone, tone)
    if confidence is None:
        return _("Auto: %(tone)s (pets are painted in neutral light)") % {"tone": name}
    if confidence <= 0:
        return _("Auto: %(tone)s — we could not tell") % {"tone": name}
    return _("Auto: %(tone)s (%(percent)s %% sure)") % {"tone": name, "percent": round(confidence * 100)}


def tone_name(tone: str) -> str:
    return {"auto": _("Auto"), "warm": _("Warm"), "cool": _("Cool"), "neutral": _("Neutral")}.get(tone, tone)


def _pack_size_text() -> str:
    return _("A pack has %(min)s to %(max)s pictures.") % {"min": PACK_MIN, "max": PACK_MAX}


# For field error_messages, which are built once at import: translated when shown, not when loaded.
PACK_SIZE = lazy(_pack_size_text, str)()
