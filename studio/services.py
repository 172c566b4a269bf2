"""Writes of the profile studio. Keyword-only; each change commits before files are deleted, so a
crash half-way leaves a smaller, consistent subject that can be deleted again.

Photos are `generation.models.Upload`s (normalised JPEGs under `uploads/<owner>/`); every batch of
them is checked by one `subject_photo_check` job, and a training is one `subject_training` job whose
outputs (checkpoints, previews, the adapter files) live under the job's output prefix.
"""

from __future__ import annotations

import logging
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

from generation import services as job_services
from generation.images import ImageRejected
from generation.models import GenerationJob, Upload
from gpu_worker.contract import ContractError
from gpu_worker.contract import subject_photo_check as check_contract
from gpu_worker.contract import subject_training as training_contract
from studio.models import PersonalModel, PhotoCheck, Subject, SubjectKind, SubjectPhoto, Training

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
        for training in list(Training.objects.filter(subject=locked).select_related("job")):
            job_services.job_delete(job=training.job)  # its PersonalModel goes with it
        _photos_delete(list(SubjectPhoto.objects.filter(subject=locked).select_related("upload")))
        locked.delete()
    return True


def _unused(subject: Subject, since: datetime) -> bool:
    open_jobs = Q(trainings__job__status__in=OPEN_STATUSES) | Q(checks__job__status__in=OPEN_STATUSES)
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
    with transaction.atomic():
        model, _ = PersonalModel.objects.get_or_create(
            training=training, defaults={"subject": subject, "name": subject.name}
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


def personal_model_delete(*, model: PersonalModel) -> None:
    """Delete the model with its training: the job's files (adapter, previews, checkpoints) go too."""
    job_services.job_delete(job=model.training.job)


def portrait_record(*, job, result) -> None:
    """A portrait succeeded (its handler). TODO(W1): touch the subject's and model's last use."""


def pose_extraction_record(*, job, result) -> None:
    """TODO(W1): fill the pose's keypoints from the extraction."""
