"""Writes of the profile studio. Keyword-only; each change commits before files are deleted, so a
crash half-way leaves a smaller, consistent subject that can be deleted again.

Photos are `generation.models.Upload`s (normalised JPEGs under `uploads/<owner>/`); every batch of
them is checked by one `subject_photo_check` job, and a training is one `subject_training` job whose
outputs (checkpoints, previews, the adapter files) live under the job's output prefix.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from generation import selectors as job_selectors
from generation import services as job_services
from generation.images import ImageRejected
from generation.models import GenerationJob, Upload
from gpu_worker.contract import ContractError, LoraSpec
from gpu_worker.contract import portrait as portrait_contract
from gpu_worker.contract import pose_extract as pose_contract
from gpu_worker.contract import subject_photo_check as check_contract
from gpu_worker.contract import subject_training as training_contract
from gpu_worker.contract.tone import TONES, SkinReading, ToneDecision, tone_decide
from studio.models import (
    Concept,
    Pack,
    PersonalModel,
    PhotoCheck,
    Portrait,
    Pose,
    Subject,
    SubjectKind,
    SubjectPhoto,
    ToneChoice,
    Training,
)

logger = logging.getLogger(__name__)

MAX_PHOTOS = check_contract.MAX_PHOTOS  # photos a subject may have that are not rejected
MIN_PHOTOS = training_contract.MIN_PHOTOS  # accepted photos a training needs
# Rejected photos stay (with their reason) until removed; past this many in all, remove some first.
MAX_PHOTOS_STORED = 2 * MAX_PHOTOS
OPEN_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)


class ConsentRequired(Exception):
    """A person's photos need their explicit consent."""


class SubjectLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} subjects")
        self.limit = limit


class PhotoLimitReached(Exception):
    """More photos than a subject may have. `room`: how many more it may take now; `rejected`:
    the limit hit is the one on stored photos (remove rejected ones)."""

    def __init__(self, room: int, *, rejected: bool = False) -> None:
        super().__init__(f"room for {room} more photos")
        self.room = room
        self.rejected = rejected


class PhotoInUse(Exception):
    """The photo is an input of a training still running."""


class NothingToCheck(Exception):
    pass


class NotEnoughPhotos(Exception):
    """Fewer than MIN_PHOTOS accepted; `checking`: how many are still being checked."""

    def __init__(self, accepted: int, checking: int = 0) -> None:
        super().__init__(f"{accepted} accepted photos ({checking} being checked), {MIN_PHOTOS} needed")
        self.accepted = accepted
        self.checking = checking


class TrainingInProgress(Exception):
    def __init__(self, training: Training) -> None:
        super().__init__("a training of this subject is still running")
        self.training = training


@dataclass(frozen=True)
class FileRejected:
    """A file that was not stored: its name as sent and the ImageRejected code ("empty": 0 bytes)."""

    name: str
    code: str


@dataclass(frozen=True)
class PhotosAdded:
    photos: list[SubjectPhoto]
    rejected: list[FileRejected]
    check: PhotoCheck | None


# ---- subjects ------------------------------------------------------------------------------------


def subject_create(
    *,
    owner,
    kind: str,
    name: str,
    consent: bool = False,
    keep_photos: bool = False,
    submission_id: uuid.UUID | None = None,
) -> Subject:
    """A new subject. A person needs `consent` (recorded with its time); pets need none. The same
    submission_id twice returns the first subject (a double click or a retried request makes one).

    Raises ConsentRequired, or SubjectLimitReached past STUDIO_MAX_SUBJECTS."""
    if kind == SubjectKind.PERSON and not consent:
        raise ConsentRequired
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        if submission_id is not None:
            earlier = Subject.objects.filter(owner=owner, submission_id=submission_id).first()
            if earlier is not None:
                return earlier
        limit = settings.STUDIO_MAX_SUBJECTS
        if Subject.objects.filter(owner=owner).count() >= limit:
            raise SubjectLimitReached(limit)
        now = timezone.now()
        return Subject.objects.create(
            owner=owner,
            kind=kind,
            name=name.strip(),
            keep_photos=keep_photos,
            consent_at=now if kind == SubjectKind.PERSON else None,
            last_used_at=now,
            submission_id=submission_id,
        )


def subject_update(*, subject: Subject, name: str | None = None, keep_photos: bool | None = None) -> Subject:
    fields = ["updated_at"]
    if name is not None:
        subject.name = name.strip()
        fields.append("name")
    if keep_photos is not None:
        subject.keep_photos = keep_photos
        fields.append("keep_photos")
    subject.save(update_fields=fields)
    return subject


def subject_touch(*, subject: Subject, now: datetime | None = None) -> None:
    """The subject was used (an upload, a training, a model's use): retention counts from here."""
    now = now or timezone.now()
    Subject.objects.filter(pk=subject.pk).update(last_used_at=now)
    subject.last_used_at = now


def subject_delete(*, subject: Subject, unused_before: datetime | None = None) -> bool:
    """Delete the subject and every file of it: each check's and training's job with everything under
    its output prefix (checkpoints, previews, the model's files), then its photos' files, then the rows.

    Under the subject's row lock, which every upload, check and training takes too: nothing can be
    added half-way and survive the subject. With `unused_before` (the retention sweep) the subject
    is deleted only if it is still unused since then and has no open job. Returns whether it was."""
    with transaction.atomic():
        locked = Subject.objects.select_for_update().filter(pk=subject.pk).first()
        if locked is None:
            return False
        if unused_before is not None and not _unused(locked, unused_before):
            return False
        for check in list(PhotoCheck.objects.filter(subject=locked).select_related("job")):
            job_services.job_delete(job=check.job)
        # The packs' pictures first: a Portrait row goes with its pack, but its job and files would not.
        _portraits_delete(Portrait.objects.filter(pack__subject=locked))
        for training in list(Training.objects.filter(subject=locked).select_related("job")):
            job_services.job_delete(job=training.job)  # its PersonalModel goes with it
        _photos_delete(list(SubjectPhoto.objects.filter(subject=locked).select_related("upload")))
        locked.delete()
    return True


def _unused(subject: Subject, since: datetime) -> bool:
    open_jobs = (
        Q(trainings__job__status__in=OPEN_STATUSES)
        | Q(checks__job__status__in=OPEN_STATUSES)
        | Q(packs__portraits__job__status__in=OPEN_STATUSES)
    )
    return subject.last_used_at < since and not Subject.objects.filter(pk=subject.pk).filter(open_jobs).exists()


def _subject_lock(subject: Subject) -> Subject:
    """The subject's row, locked; a subject deleted meanwhile is a 404 (nothing may be added to it)."""
    locked = Subject.objects.select_for_update().filter(pk=subject.pk).first()
    if locked is None:
        raise Http404("The subject was deleted.")
    return locked


def subjects_expire(*, now: datetime | None = None) -> int:
    """Delete (as `subject_delete` does) the subjects unused for SUBJECT_RETENTION_DAYS days. A subject
    with a check or training still open is in use. Returns how many were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SUBJECT_RETENTION_DAYS)
    stale = (
        Subject.objects.filter(last_used_at__lt=cutoff)
        .exclude(trainings__job__status__in=OPEN_STATUSES)
        .exclude(checks__job__status__in=OPEN_STATUSES)
        .exclude(packs__portraits__job__status__in=OPEN_STATUSES)
        .distinct()
        .order_by("last_used_at")[:500]
    )
    deleted = 0
    for subject in list(stale):
        try:
            # Checked again under the lock: someone may have uploaded or trained since the query.
            deleted += subject_delete(subject=subject, unused_before=cutoff)
        except Exception:  # one bad subject must not keep every other one forever
            logger.exception("could not delete expired subject %s", subject.id)
    return deleted


# ---- photos --------------------------------------------------------------------------------------


def _photo_room(subject: Subject) -> tuple[int, bool]:
    photos = SubjectPhoto.objects.filter(subject=subject)
    kept_room = MAX_PHOTOS - photos.exclude(verdict=SubjectPhoto.Verdict.REJECTED).count()
    stored_room = MAX_PHOTOS_STORED - photos.count()
    return max(0, min(kept_room, stored_room)), stored_room < kept_room


def subject_photos_add(*, subject: Subject, files: list) -> PhotosAdded:
    """Store the photos (normalised, metadata stripped) and start one check of them all.

    A file that is not a usable image (empty, not an image, too large...) is reported in `rejected`
    by its name and the others are still stored.
    Raises PhotoLimitReached (nothing stored) when the batch would take the subject past MAX_PHOTOS
    photos that are not rejected."""
    room, rejected_limit = _photo_room(subject)
    if len(files) > room:
        raise PhotoLimitReached(room, rejected=rejected_limit)
    uploads: list[Upload] = []
    rejected: list[FileRejected] = []
    try:
        for file in files:
            if not getattr(file, "size", None):
                rejected.append(FileRejected(name=str(getattr(file, "name", "") or ""), code="empty"))
                continue
            try:
                uploads.append(job_services.upload_create(owner=subject.owner, file=file))
            except ImageRejected as exc:
                rejected.append(FileRejected(name=str(getattr(file, "name", "") or ""), code=exc.code))
        if not uploads:
            return PhotosAdded(photos=[], rejected=rejected, check=None)
        with transaction.atomic():
            _subject_lock(subject)
            room, rejected_limit = _photo_room(subject)  # again, under the lock: two uploads at once
            if len(uploads) > room:
                raise PhotoLimitReached(room, rejected=rejected_limit)
            photos = [SubjectPhoto.objects.create(subject=subject, upload=upload) for upload in uploads]
            check = _check_start(subject=subject, photos=photos)
            subject_touch(subject=subject)
    except Exception:
        _uploads_delete(uploads)
        raise
    return PhotosAdded(photos=photos, rejected=rejected, check=check)


def subject_photos_recheck(*, subject: Subject) -> PhotoCheck:
    """Check again the photos whose check failed (worker lost, cancelled...). Raises NothingToCheck."""
    with transaction.atomic():
        _subject_lock(subject)
        waiting = SubjectPhoto.objects.filter(subject=subject, verdict=SubjectPhoto.Verdict.PENDING).select_related(
            "photo_check__job", "upload"
        )
        photos = [p for p in waiting if p.photo_check is None or p.photo_check.job.is_finished]
        if not photos:
            raise NothingToCheck
        check = _check_start(subject=subject, photos=photos)
        subject_touch(subject=subject)
    return check


def subject_photo_delete(*, photo: SubjectPhoto) -> None:
    """Remove a photo: its row and its file. Raises PhotoInUse while a training uses it."""
    subject = photo.subject
    with transaction.atomic():
        _subject_lock(subject)
        for training in Training.objects.filter(subject=subject, job__status__in=OPEN_STATUSES).select_related("job"):
            inputs = training.job.spec.get("inputs", {}).get(training_contract.PHOTOS_INPUT, [])
            if photo.upload.image.name in inputs:
                raise PhotoInUse
        # Still under the lock: a training cannot start with this photo between the check and here.
        _photos_delete([photo])
        # A photo rejected only as a near-copy of this one may now be the one to keep.
        _duplicates_mark(subject=subject)


def _check_start(*, subject: Subject, photos: list[SubjectPhoto]) -> PhotoCheck:
    job = job_services.job_create(
        owner=subject.owner,
        kind=check_contract.KIND,
        params=check_contract.PhotoCheckParams(subject_kind=subject.kind),
        inputs={check_contract.PHOTOS_INPUT: [photo.upload.image.name for photo in photos]},
    )
    check = PhotoCheck.objects.create(job=job, subject=subject)
    SubjectPhoto.objects.filter(pk__in=[photo.pk for photo in photos]).update(
        photo_check=check, verdict=SubjectPhoto.Verdict.PENDING, rejection=""
    )
    for photo in photos:
        photo.photo_check, photo.verdict, photo.rejection = check, SubjectPhoto.Verdict.PENDING, ""
    return check


def photo_check_record(*, job: GenerationJob, result: check_contract.PhotoCheckResult) -> int:
    """Store each verdict on its photo, then mark near-duplicates. Runs when the check succeeds
    (the check's handler); safe to run twice. Returns the photos updated."""
    check = PhotoCheck.objects.filter(job=job).first()
    if check is None:  # the subject was deleted meanwhile
        return 0
    updated = 0
    with transaction.atomic():
        subject = Subject.objects.select_for_update().filter(pk=check.subject_id).first()
        if subject is None:
            return 0
        PhotoCheck.objects.filter(pk=check.pk).update(min_face_px=result.min_face_px)
        photos = {
            photo.upload.image.name: photo
            for photo in SubjectPhoto.objects.filter(subject=subject, photo_check=check).select_related("upload")
        }
        for verdict in result.photos:
            photo = photos.get(verdict.key)
            if photo is None:  # removed while it was being checked
                continue
            photo.verdict = SubjectPhoto.Verdict.ACCEPTED if verdict.accepted else SubjectPhoto.Verdict.REJECTED
            photo.rejection = (
                "" if verdict.accepted else (verdict.rejection or check_contract.PhotoRejection.UNREADABLE)
            )
            photo.sharpness = verdict.sharpness
            photo.phash = verdict.phash
            photo.face_px = verdict.face_px
            photo.subjects_found = verdict.subjects
            skin = verdict.skin
            photo.skin_lightness = skin.lightness if skin else None
            photo.skin_a = skin.a if skin else None
            photo.skin_b = skin.b if skin else None
            photo.skin_pixels = skin.pixels if skin else None
            photo.save(
                update_fields=[
                    "verdict",
                    "rejection",
                    "sharpness",
                    "phash",
                    "face_px",
                    "subjects_found",
                    "skin_lightness",
                    "skin_a",
                    "skin_b",
                    "skin_pixels",
                ]
            )
            updated += 1
        _duplicates_mark(subject=subject)
    return updated


def _duplicates_mark(*, subject: Subject) -> None:
    """In upload order, a photo within DUPLICATE_MAX_DISTANCE of an earlier kept photo of the subject is
    rejected as "duplicate"; any other photo the check accepted is accepted. Run under the subject's lock."""
    candidates = SubjectPhoto.objects.filter(subject=subject).filter(
        Q(verdict=SubjectPhoto.Verdict.ACCEPTED) | Q(rejection=check_contract.PhotoRejection.DUPLICATE)
    )
    kept: list[str] = []
    for photo in candidates.order_by("created_at", "id"):
        duplicate = bool(photo.phash) and any(_near(photo.phash, other) for other in kept)
        if duplicate:
            verdict, rejection = SubjectPhoto.Verdict.REJECTED, check_contract.PhotoRejection.DUPLICATE
        else:
            verdict, rejection = SubjectPhoto.Verdict.ACCEPTED, ""
            if photo.phash:
                kept.append(photo.phash)
        if (photo.verdict, photo.rejection) != (verdict, rejection):
            SubjectPhoto.objects.filter(pk=photo.pk).update(verdict=verdict, rejection=rejection)


def _near(a: str, b: str) -> bool:
    try:
        return check_contract.phash_distance(a, b) <= check_contract.DUPLICATE_MAX_DISTANCE
    except (ContractError, ValueError):
        return False


def _photos_delete(photos: list[SubjectPhoto]) -> None:
    _uploads_delete([photo.upload for photo in photos])


def _uploads_delete(uploads: list[Upload]) -> None:
    """Rows first (a photo's row goes with its upload), then the files."""
    keys = [upload.image.name for upload in uploads if upload.image]
    with transaction.atomic():
        Upload.objects.filter(pk__in=[upload.pk for upload in uploads]).delete()
    for key in keys:
        default_storage.delete(key)


# ---- trainings and models ------------------------------------------------------------------------


def subject_train(*, subject: Subject, submission_id: uuid.UUID | None = None) -> Training:
    """Train a personal model from the subject's accepted photos.

    Raises TrainingInProgress (one at a time per subject), NotEnoughPhotos (fewer than MIN_PHOTOS
    accepted) or QuotaExceeded (STUDIO_DAILY_TRAININGS a day); nothing is written then. The same
    submission_id twice returns the first training."""
    with transaction.atomic():
        _subject_lock(subject)
        if submission_id is not None:
            earlier = Training.objects.filter(subject=subject, job__submission_id=submission_id).first()
            if earlier is not None:
                return earlier
            if GenerationJob.objects.filter(owner=subject.owner, submission_id=submission_id).exists():
                submission_id = None  # another request's key (another subject, another product)
        running = Training.objects.filter(subject=subject, job__status__in=OPEN_STATUSES).first()
        if running is not None:
            raise TrainingInProgress(running)
        photos = list(
            SubjectPhoto.objects.filter(subject=subject, verdict=SubjectPhoto.Verdict.ACCEPTED)
            .select_related("upload")
            .order_by("created_at", "id")[: training_contract.MAX_PHOTOS]
        )
        if len(photos) < MIN_PHOTOS:
            checking = SubjectPhoto.objects.filter(
                subject=subject, verdict=SubjectPhoto.Verdict.PENDING, photo_check__job__status__in=OPEN_STATUSES
            ).count()
            raise NotEnoughPhotos(len(photos), checking)
        params = training_contract.TrainingParams(
            subject_kind=subject.kind, seed=job_services.new_seed(), steps=settings.STUDIO_TRAINING_STEPS
        )
        job = job_services.job_create(
            owner=subject.owner,
            kind=training_contract.KIND,
            params=params,
            inputs={training_contract.PHOTOS_INPUT: [photo.upload.image.name for photo in photos]},
            submission_id=submission_id,
        )
        training = Training.objects.create(job=job, subject=subject, photos_count=len(photos))
        subject_touch(subject=subject)
    return training


def training_record(*, job: GenerationJob, result: training_contract.TrainingResult) -> PersonalModel | None:
    """The training succeeded: the personal model is ready. Unless the subject keeps its photos, they
    are deleted now (rows and files). Safe to run twice."""
    training = Training.objects.filter(job=job).select_related("subject").first()
    if training is None:  # the subject was deleted meanwhile
        return None
    subject = training.subject
    # "auto" decides a pack's tone from the skin of the photos it learnt from. Only the decision is
    # kept with the model: the skin readings themselves go with the photos.
    used = training.job.spec.get("inputs", {}).get(training_contract.PHOTOS_INPUT, [])
    photos = SubjectPhoto.objects.filter(subject=subject, upload__image__in=used, skin_pixels__isnull=False)
    decision = tone_decide(_skin_readings(photos))
    auto_tone = {"tone": decision.tone, "confidence": decision.confidence} if decision.readings else None
    with transaction.atomic():
        model, _ = PersonalModel.objects.get_or_create(
            training=training, defaults={"subject": subject, "name": subject.name, "auto_tone": auto_tone}
        )
        subject_touch(subject=subject)
    subject.refresh_from_db(fields=["keep_photos"])
    if not subject.keep_photos:
        _photos_delete(list(SubjectPhoto.objects.filter(subject=subject).select_related("upload")))
    return model


def personal_model_rename(*, model: PersonalModel, name: str) -> PersonalModel:
    model.name = name.strip()
    model.save(update_fields=["name"])
    return model


def personal_model_touch(*, model: PersonalModel) -> None:
    """A model was used (profile packs, later): it and its subject are kept another retention period."""
    now = timezone.now()
    PersonalModel.objects.filter(pk=model.pk).update(last_used_at=now)
    model.last_used_at = now
    subject_touch(subject=model.subject, now=now)


# Looking at a pack is using it, but a page polled every few seconds must not write every time.
TOUCH_AT_MOST_EVERY = timedelta(hours=1)


def pack_touch(*, pack: Pack) -> None:
    """The pack was looked at or downloaded: its model and subject are kept another retention period
    (retention counts from the last use, not the last pack made)."""
    now = timezone.now()
    if pack.subject.last_used_at < now - TOUCH_AT_MOST_EVERY:
        personal_model_touch(model=pack.personal_model)


def personal_model_delete(*, model: PersonalModel) -> None:
    """Delete the model with its packs and its training: every picture's and the training job's files
    (adapter, previews, checkpoints) go too."""
    with transaction.atomic():
        _subject_lock(model.subject)
        _portraits_delete(Portrait.objects.filter(pack__personal_model=model))
        job_services.job_delete(job=model.training.job)  # the model and its (now empty) packs go with it


# ---- portraits: profile packs ----------------------------------------------------------------


class NoPersonalModel(Exception):
    """The subject has no finished personal model to paint with."""


class PackInvalid(Exception):
    """A choice the pack cannot take. `field`: which input; `code`: why (messages.pack_invalid words it)."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


class PortraitQuotaExceeded(job_services.QuotaExceeded):
    """The whole pack does not fit in what is left of today's portraits (nothing was made)."""

    def __init__(self, limit: int, remaining: int, size: int) -> None:
        super().__init__(limit)
        self.remaining = remaining
        self.size = size


class NothingToCancel(Exception):
    pass


@dataclass(frozen=True)
class ToneResolved:
    tone: str  # warm / cool / neutral: what the pictures are painted in
    confidence: float | None  # set when "auto" decided it (0: could not tell)


def concept_tones(concept: Concept) -> list[str]:
    """The tones a person may pick for the concept (none listed: all of them, "auto" first)."""
    return list(concept.tones) or list(ToneChoice.values)


def concept_poses(concept: Concept):
    """The active poses a person may pick for the concept. A concept that lists none leaves the pose
    to the model: no pose can be picked then."""
    return concept.poses.filter(is_active=True).order_by("sort_order", "slug")


def _skin_readings(photos) -> list[SkinReading]:
    readings = []
    for photo in photos.order_by("created_at", "id"):
        try:
            readings.append(
                SkinReading(lightness=photo.skin_lightness, a=photo.skin_a, b=photo.skin_b, pixels=photo.skin_pixels)
            )
        except (ContractError, TypeError):
            continue  # an unreadable stored reading is no reading
    return readings


def subject_tone_decision(*, subject: Subject, model: PersonalModel | None) -> ToneDecision:
    """What "auto" decides: from the subject's accepted photos that have a skin reading, or (when its
    photos were deleted after training, the default) the decision kept with the model."""
    photos = SubjectPhoto.objects.filter(
        subject=subject, verdict=SubjectPhoto.Verdict.ACCEPTED, skin_pixels__isnull=False
    )
    readings = _skin_readings(photos)
    if readings or model is None or not model.auto_tone:
        return tone_decide(readings)
    kept = model.auto_tone
    try:
        return ToneDecision(
            tone=kept["tone"] if kept["tone"] in TONES else "neutral",
            confidence=float(kept["confidence"]),
            hue_degrees=None,
            readings=0,
        )
    except (KeyError, TypeError, ValueError):
        return tone_decide([])


def tone_resolve(*, subject: Subject, model: PersonalModel | None, requested: str) -> ToneResolved:
    """ "warm"/"cool" as asked; "auto" from the skin readings (contract/tone.py). A pet has no skin
    reading: its "auto" is neutral, with no confidence (nothing was measured)."""
    if requested != ToneChoice.AUTO:
        return ToneResolved(tone=requested, confidence=None)
    if subject.is_pet:
        return ToneResolved(tone="neutral", confidence=None)
    decision = subject_tone_decision(subject=subject, model=model)
    return ToneResolved(tone=decision.tone, confidence=decision.confidence)


def personal_model_latest(*, subject: Subject) -> PersonalModel | None:
    """The newest finished personal model of the subject (a model exists only once its training succeeded)."""
    return (
        PersonalModel.objects.filter(subject=subject, training__job__status="succeeded")
        .select_related("training__job")
        .order_by("-created_at")
        .first()
    )


def personal_model_spec(model: PersonalModel) -> portrait_contract.PersonalModelSpec:
    """The model's files as the portrait contract pins them, from its training's typed result."""
    result: training_contract.TrainingResult | None = job_selectors.job_result(job=model.training.job)
    if result is None:
        raise NoPersonalModel
    return portrait_contract.PersonalModelSpec(
        lora=LoraSpec(key=result.lora_key, sha256=result.lora_sha256, weight=1.0),
        embeddings_key=result.embeddings_key,
        embeddings_sha256=result.embeddings_sha256,
        tokens=list(result.tokens),
        class_word=result.class_word,
        base_model=result.base_model,
    )


def concept_spec(concept: Concept) -> portrait_contract.ConceptSpec:
    """What the concept says now (its style's LoRA and words included): editing it later changes no pack."""
    template, negative = concept.prompt_template, concept.negative_prompt
    style = job_services.style_spec(concept.style)
    if style is not None:
        template = ", ".join(part for part in (template, _style_words(style.prompt_addition)) if part)
        negative = ", ".join(part for part in (negative, _style_words(style.negative_prompt_addition)) if part)
    try:
        return _concept_spec(concept, template, negative, style)
    except ContractError:
        # An admin's edit the form could not see coming (e.g. a style edited after the concept):
        # the concept is unavailable, not a server error.
        logger.exception("concept %s does not make a valid portrait spec", concept.slug)
        raise PackInvalid("concept", "concept_unavailable") from None


# A1111-style LoRA tags ("<lora:name:0.8>") and our own tokens ("<s0>") mean nothing to diffusers, and
# a "{subject}" in a style's words would be a second slot: a style's words never carry either.
_NOT_STYLE_WORDS = re.compile(r"<[^<>]*>|\{subject\}")


def _style_words(words: str) -> str:
    return " ".join(_NOT_STYLE_WORDS.sub(" ", words).split()).strip(" ,")


def _concept_spec(concept: Concept, template: str, negative: str, style) -> portrait_contract.ConceptSpec:
    return portrait_contract.ConceptSpec(
        slug=concept.slug,
        prompt_template=template,
        negative_prompt=negative,
        style_lora=style.lora if style is not None else None,
        steps=concept.steps,
        guidance=concept.guidance,
        scheduler=concept.scheduler,
        control_scale=concept.control_scale,
        filter_strength=concept.filter_strength,
        face_fix=concept.face_fix,
        hand_fix=concept.hand_fix,
    )


def pose_spec(pose: Pose) -> portrait_contract.PoseSpec:
    return portrait_contract.PoseSpec(slug=pose.slug, keypoints=pose.keypoints, aspect=pose.aspect)


def _pack_validate(
    *, subject: Subject, concept: Concept | None, pose: Pose | None, tone: str, instruction: str, size: int | None
) -> tuple[str, int]:
    """The checks of a pack's input, in the form's order. Returns the instruction (stripped) and the size."""
    if concept is None or not concept.is_active or subject.kind not in concept.subject_kinds:
        raise PackInvalid("concept", "concept_unavailable")
    if pose is not None:
        if subject.is_pet:
            raise PackInvalid("pose", "pose_not_for_pets")
        if not concept_poses(concept).filter(pk=pose.pk).exists():
            raise PackInvalid("pose", "pose_unavailable")
    if tone not in concept_tones(concept):
        raise PackInvalid("tone", "tone_unavailable")
    instruction = (instruction or "").strip()
    if instruction and not subject.is_pet:
        raise PackInvalid("instruction", "instruction_not_for_people")
    if len(instruction) > portrait_contract.MAX_INSTRUCTION_CHARS:
        raise PackInvalid("instruction", "instruction_too_long")
    size = concept.pack_size if size is None else size
    if not portrait_contract.PACK_MIN <= size <= portrait_contract.PACK_MAX:
        raise PackInvalid("size", "size_out_of_range")
    return instruction, size


def _pack_of_submission(*, owner, subject: Subject, submission_id: uuid.UUID | None):
    """(The pack this submission already made, the key to use). A key reused for another subject is
    not this request's: it is ignored, as the engine ignores one reused for another kind."""
    if submission_id is None:
        return None, None
    earlier = Pack.objects.filter(owner=owner, submission_id=submission_id).first()
    if earlier is None:
        return None, submission_id
    if earlier.subject_id == subject.pk:
        return earlier, submission_id
    return None, None


def pack_create(
    *,
    owner,
    subject: Subject,
    concept: Concept | None,
    pose: Pose | None = None,
    tone: str = ToneChoice.AUTO,
    instruction: str = "",
    size: int | None = None,
    submission_id: uuid.UUID | None = None,
    more_like: Pack | None = None,
) -> Pack:
    """A pack of `size` portraits (default: the concept's) of the subject, painted with its newest
    personal model: one `portrait` job per picture, each with its own seed.

    Checks, in order: the input (PackInvalid: the concept is active and for the subject's kind; a pose
    only for people and among the concept's active poses, none when the concept lists none; the tone
    among the concept's; an instruction only for pets and at most MAX_INSTRUCTION_CHARS once stripped;
    PACK_MIN <= size <= PACK_MAX), then a finished model (NoPersonalModel), then today's portraits
    for the whole pack at once (PortraitQuotaExceeded: a pack of 4 with 3 left makes nothing). All or
    nothing, in one transaction, under the subject's and then the owner's row lock. The same
    submission_id twice returns the first pack."""
    if subject.owner_id != owner.pk:
        raise Http404("No such subject.")
    # A retry of a pack already made is that pack, even if the concept was retired meanwhile.
    earlier, submission_id = _pack_of_submission(owner=owner, subject=subject, submission_id=submission_id)
    if earlier is not None:
        return earlier
    instruction, size = _pack_validate(
        subject=subject, concept=concept, pose=pose, tone=tone, instruction=instruction, size=size
    )
    with transaction.atomic():
        _subject_lock(subject)
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        earlier, submission_id = _pack_of_submission(owner=owner, subject=subject, submission_id=submission_id)
        if earlier is not None:  # the same request, made meanwhile by a double click
            return earlier
        model = personal_model_latest(subject=subject)
        if model is None:
            raise NoPersonalModel
        model_spec = personal_model_spec(model)
        quota = job_services.quota_of(owner=owner, kind=portrait_contract.KIND)
        if quota.limit is not None and quota.remaining < size:
            raise PortraitQuotaExceeded(quota.limit, quota.remaining, size)
        resolved = tone_resolve(subject=subject, model=model, requested=tone)
        spec_concept = concept_spec(concept)
        spec_pose = pose_spec(pose) if pose is not None else None
        pack = Pack.objects.create(
            owner=owner,
            subject=subject,
            personal_model=model,
            concept=concept,
            pose=pose,
            tone_requested=tone,
            tone=resolved.tone,
            tone_confidence=resolved.confidence,
            instruction=instruction,
            size=size,
            more_like=more_like,
            submission_id=submission_id,
        )
        for index in range(1, size + 1):
            params = portrait_contract.PortraitParams(
                subject_kind=subject.kind,
                model=model_spec,
                concept=spec_concept,
                seed=job_services.new_seed(),
                tone=resolved.tone,
                pose=spec_pose,
                instruction=instruction,
            )
            job = job_services.job_create(owner=owner, kind=portrait_contract.KIND, params=params)
            Portrait.objects.create(job=job, pack=pack, index=index)
        personal_model_touch(model=model)
    return pack


def pack_more_like(*, pack: Pack, submission_id: uuid.UUID | None = None) -> Pack:
    """A new pack with the same choices (concept, pose, tone as asked, words, size), new seeds and the
    subject's newest model. The concept and pose are taken as they are now: one retired since is
    refused (PackInvalid), as is a pack whose concept was deleted."""
    return pack_create(
        owner=pack.owner,
        subject=pack.subject,
        concept=pack.concept,
        pose=pack.pose,
        tone=pack.tone_requested,
        instruction=pack.instruction,
        size=pack.size,
        submission_id=submission_id,
        more_like=pack,
    )


def portrait_favourite_set(*, portrait: Portrait, favourite: bool) -> Portrait:
    Portrait.objects.filter(pk=portrait.pk).update(favourite=favourite)
    portrait.favourite = favourite
    return portrait


def _portraits_delete(portraits) -> None:
    for portrait in list(portraits.select_related("job")):
        job_services.job_delete(job=portrait.job)  # its files; the Portrait row goes with the job


def training_portraits_delete(*, job: GenerationJob) -> None:
    """The pictures painted with the model a training made, files and all (the training's job is going)."""
    _portraits_delete(Portrait.objects.filter(pack__personal_model__training__job=job))


def portrait_delete(*, portrait: Portrait) -> bool:
    """Delete one picture and its files (made today, it still counts towards today's portraits). The
    last picture of a pack takes the pack with it. Returns whether the pack is gone too."""
    pack_id = portrait.pack_id
    job_services.job_delete(job=portrait.job)
    with transaction.atomic():
        if not Portrait.objects.filter(pack_id=pack_id).exists():
            Pack.objects.filter(pk=pack_id).delete()
            return True
    return False


def pack_delete(*, pack: Pack) -> None:
    """Delete the pack with every picture and file (today's count stays)."""
    _portraits_delete(Portrait.objects.filter(pack=pack))
    Pack.objects.filter(pk=pack.pk).delete()


def pack_cancel(*, pack: Pack) -> int:
    """Stop every picture of the pack that is not done yet. Returns how many were stopped; raises
    NothingToCancel when every one had already finished."""
    stopped = 0
    for portrait in Portrait.objects.filter(pack=pack, job__status__in=OPEN_STATUSES).select_related("job"):
        stopped += job_services.job_cancel(job=portrait.job)
    if not stopped:
        raise NothingToCancel
    return stopped


def portrait_record(*, job: GenerationJob, result: portrait_contract.PortraitResult) -> None:
    """A portrait succeeded (its handler): its model and subject were used, retention counts from now."""
    portrait = Portrait.objects.filter(job=job).select_related("pack__personal_model__subject").first()
    if portrait is None:  # deleted meanwhile
        return
    personal_model_touch(model=portrait.pack.personal_model)


# ---- poses (staff) -----------------------------------------------------------------------------


class NoReferencePhoto(Exception):
    pass


def pose_extraction_start(*, pose: Pose, by) -> GenerationJob:
    """Start a `pose_extract` job on the pose's reference photo; its result fills the pose's keypoints
    (`pose_extraction_record`). `by`: the staff member, who owns the job."""
    if not pose.reference_photo:
        raise NoReferencePhoto
    with transaction.atomic():
        job = job_services.job_create(
            owner=by,
            kind=pose_contract.KIND,
            params=pose_contract.PoseExtractParams(),
            inputs={pose_contract.PHOTO_INPUT: pose.reference_photo.name},
        )
        Pose.objects.filter(pk=pose.pk).update(extraction_job=job)
        pose.extraction_job = job
    return job


def pose_extraction_record(*, job: GenerationJob, result: pose_contract.PoseExtractResult) -> int:
    """The extraction succeeded (its handler): the pose it was started for takes its keypoints and frame
    aspect. A pose that has started another extraction since keeps waiting for that one. Returns the
    poses updated (0 or 1)."""
    portrait_contract.check_keypoints(result.keypoints)
    keypoints = [[round(float(x), 4), round(float(y), 4), round(float(c), 4)] for x, y, c in result.keypoints]
    aspect = round(min(5.0, max(0.2, float(result.aspect))), 4)
    return Pose.objects.filter(extraction_job=job).update(keypoints=keypoints, aspect=aspect)
