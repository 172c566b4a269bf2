"""Reads of the profile studio, always scoped to the owner: other people's ids are 404."""

from __future__ import annotations

import statistics
import tempfile
import zipfile
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from generation import selectors as job_selectors
from generation.models import GenerationJob
from gpu_worker.contract.portrait import PortraitParams
from gpu_worker.contract.subject_training import MIN_PHOTOS, PHOTOS_INPUT, TrainingResult
from studio import messages
from studio.models import Concept, Pack, PersonalModel, Portrait, Pose, Subject, SubjectPhoto, Training
from studio.services import MAX_PHOTOS, MAX_PHOTOS_STORED, personal_model_latest, tone_resolve


class PhotoStatus:
    CHECKING = "checking"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNCHECKED = "unchecked"  # its check failed or was cancelled: "check again"


class SubjectStatus:
    COLLECTING = "collecting"  # collecting photos
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


def subjects_of(*, owner) -> QuerySet[Subject]:
    """Newest first, with photos, trainings and models fetched at once."""
    photos = SubjectPhoto.objects.select_related("upload", "photo_check__job").order_by("created_at", "id")
    # "model": the training's model comes with it (a reverse one-to-one), not one query per training.
    trainings = Training.objects.select_related("job", "model").order_by("-created_at")
    models = PersonalModel.objects.select_related("training__job").order_by("-created_at")
    return (
        Subject.objects.filter(owner=owner)
        .prefetch_related(
            Prefetch("photos", queryset=photos),
            Prefetch("trainings", queryset=trainings),
            Prefetch("personal_models", queryset=models),
        )
        .order_by("-created_at")
    )


def subjects_states_preload(subjects) -> None:
    """The live states of a page of subjects' trainings, read at once (one Redis round trip)."""
    job_selectors.job_states_preload(training.job for subject in subjects for training in subject.trainings.all())


def training_model_id(training: Training):
    """The id of the model the training made, or None (no query when it came from `subjects_of`)."""
    try:
        return training.model.id
    except PersonalModel.DoesNotExist:
        return None


def subject_get(*, owner, subject_id) -> Subject:
    return get_object_or_404(subjects_of(owner=owner), pk=subject_id)


def photo_get(*, owner, photo_id) -> SubjectPhoto:
    photos = SubjectPhoto.objects.filter(subject__owner=owner, upload__owner=owner).select_related(
        "subject", "upload", "photo_check__job"
    )
    return get_object_or_404(photos, pk=photo_id)


def personal_models_of(*, owner) -> QuerySet[PersonalModel]:
    return (
        PersonalModel.objects.filter(subject__owner=owner, training__job__owner=owner)
        .select_related("subject", "training__job")
        .order_by("-created_at")
    )


def personal_model_get(*, owner, model_id) -> PersonalModel:
    return get_object_or_404(personal_models_of(owner=owner), pk=model_id)


def training_get(*, owner, training_id) -> Training:
    trainings = Training.objects.filter(subject__owner=owner, job__owner=owner).select_related("subject", "job")
    return get_object_or_404(trainings, pk=training_id)


# ---- photos --------------------------------------------------------------------------------------


def photo_status(photo: SubjectPhoto) -> str:
    if photo.verdict == SubjectPhoto.Verdict.ACCEPTED:
        return PhotoStatus.ACCEPTED
    if photo.verdict == SubjectPhoto.Verdict.REJECTED:
        return PhotoStatus.REJECTED
    check = photo.photo_check
    if check is not None and not check.job.is_finished:
        return PhotoStatus.CHECKING
    return PhotoStatus.UNCHECKED


def photo_reason(photo: SubjectPhoto, *, kind: str) -> str:
    """Why a photo cannot be used (translated), or "" when it can or is still being checked."""
    status = photo_status(photo)
    if status == PhotoStatus.REJECTED:
        min_face = photo.photo_check.min_face_px if photo.photo_check else None
        return messages.photo_rejection(photo.rejection, kind=kind, min_face_px=min_face)
    if status == PhotoStatus.UNCHECKED:
        return messages.photo_unchecked()
    return ""


@dataclass(frozen=True)
class PhotoRow:
    photo: SubjectPhoto
    status: str
    reason: str
    in_use: bool = False  # an input of the training that is running: it cannot be removed now


def photo_rows(subject: Subject, *, in_use: frozenset[str] = frozenset()) -> list[PhotoRow]:
    rows = []
    for photo in subject.photos.all():
        rows.append(
            PhotoRow(
                photo=photo,
                status=photo_status(photo),
                reason=photo_reason(photo, kind=subject.kind),
                in_use=photo.upload.image.name in in_use,
            )
        )
    return rows


def training_inputs(training: Training | None) -> frozenset[str]:
    """The storage keys of the photos a training uses."""
    if training is None:
        return frozenset()
    return frozenset(training.job.spec.get("inputs", {}).get(PHOTOS_INPUT, []))


# ---- the subject as a whole ----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    training: Training
    result: TrainingResult | None  # the typed result of a succeeded training

    @property
    def message(self) -> str:
        """Why it ended without a model (failed or cancelled), in the reader's language."""
        return job_selectors.job_error_message(self.training.job) if self.result is None else ""


@dataclass(frozen=True)
class SubjectOverview:
    subject: Subject
    status: str
    photos: list[PhotoRow]
    accepted: int
    checking: int
    unchecked: int
    rejected: int
    room: int  # photos that may still be added
    min_photos: int
    max_photos: int
    trainings: list[Training]
    latest: Training | None  # the newest training, whatever its state
    open_training: Training | None
    models: list[PersonalModel]
    open_checks: list[GenerationJob]  # the checks still running (the page polls them)

    @property
    def can_train(self) -> bool:
        return self.open_training is None and self.accepted >= self.min_photos

    @property
    def history(self) -> list[HistoryRow]:
        """The trainings that ended, newest first (the open one has its own live panel), each with
        its typed result when it succeeded (steps, final loss, seconds, photos used)."""
        return [
            HistoryRow(training=training, result=training_result(training))
            for training in self.trainings
            if training.job.is_finished
        ]

    @property
    def ready_model(self) -> PersonalModel | None:
        """The newest model when no training is running: the page shows it first."""
        return self.models[0] if self.models and self.open_training is None else None

    @property
    def failure_message(self) -> str:
        if self.status != SubjectStatus.FAILED or self.latest is None:
            return ""
        return job_selectors.job_error_message(self.latest.job)


def subject_overview(subject: Subject) -> SubjectOverview:
    """Everything a subject's page and the library show (uses the prefetches of `subjects_of`)."""
    trainings = sorted(subject.trainings.all(), key=lambda t: t.created_at, reverse=True)
    latest = trainings[0] if trainings else None
    open_training = next((t for t in trainings if not t.job.is_finished), None)
    rows = photo_rows(subject, in_use=training_inputs(open_training))
    count = {status: 0 for status in (PhotoStatus.ACCEPTED, PhotoStatus.REJECTED, "checking", "unchecked")}
    for row in rows:
        count[row.status] += 1
    models = sorted(subject.personal_models.all(), key=lambda m: m.created_at, reverse=True)
    if open_training is not None:
        status = SubjectStatus.TRAINING
    elif latest is not None and latest.job.status == GenerationJob.Status.FAILED:
        status = SubjectStatus.FAILED
    elif models:
        status = SubjectStatus.READY
    else:
        status = SubjectStatus.COLLECTING
    kept = len(rows) - count[PhotoStatus.REJECTED]
    room = max(0, min(MAX_PHOTOS - kept, MAX_PHOTOS_STORED - len(rows)))
    open_checks = {
        row.photo.photo_check.job_id: row.photo.photo_check.job for row in rows if row.status == PhotoStatus.CHECKING
    }
    return SubjectOverview(
        subject=subject,
        status=status,
        photos=rows,
        accepted=count[PhotoStatus.ACCEPTED],
        checking=count[PhotoStatus.CHECKING],
        unchecked=count[PhotoStatus.UNCHECKED],
        rejected=count[PhotoStatus.REJECTED],
        room=room,
        min_photos=MIN_PHOTOS,
        max_photos=MAX_PHOTOS,
        trainings=trainings,
        latest=latest,
        open_training=open_training,
        models=models,
        open_checks=list(open_checks.values()),
    )


# ---- models --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    index: int
    step: int


def training_result(training: Training) -> TrainingResult | None:
    return job_selectors.job_result(job=training.job)


def model_previews(model: PersonalModel) -> list[Preview]:
    result = training_result(model.training)
    if result is None:
        return []
    steps = list(result.preview_steps) + [0] * max(0, len(result.previews) - len(result.preview_steps))
    return [Preview(index=index, step=steps[index]) for index in range(len(result.previews))]


def model_preview_key(model: PersonalModel, index: int) -> str | None:
    """A preview's storage key, only if it lies under the model's own training job."""
    result = training_result(model.training)
    if result is None or not 0 <= index < len(result.previews):
        return None
    key = result.previews[index]
    return key if job_selectors.key_under(key, model.training.job.output_prefix) else None


# ---- portraits: concepts, poses and packs -------------------------------------------------------


def concepts_active(*, kind: str | None = None) -> QuerySet[Concept]:
    """Active concepts in their order; with `kind`, those for that subject kind."""
    concepts = Concept.objects.filter(is_active=True).prefetch_related(
        Prefetch("poses", queryset=Pose.objects.filter(is_active=True).order_by("sort_order", "slug"))
    )
    return concepts.filter(subject_kinds__contains=[kind]) if kind else concepts


def poses_active() -> QuerySet[Pose]:
    return Pose.objects.filter(is_active=True)


def packs_of(*, owner, subject: Subject | None = None) -> QuerySet[Pack]:
    """Newest first, with their pictures' jobs, the subject, concept and pose fetched at once."""
    portraits = Portrait.objects.select_related("job").order_by("index")
    packs = (
        Pack.objects.filter(owner=owner, subject__owner=owner)
        .select_related("subject", "concept", "pose", "personal_model")
        .prefetch_related(Prefetch("portraits", queryset=portraits))
        .order_by("-created_at")
    )
    return packs.filter(subject=subject) if subject is not None else packs


def pack_get(*, owner, pack_id) -> Pack:
    return get_object_or_404(packs_of(owner=owner), pk=pack_id)


def portrait_get(*, owner, portrait_id) -> Portrait:
    portraits = Portrait.objects.filter(pack__owner=owner, job__owner=owner).select_related("job", "pack")
    return get_object_or_404(portraits, pk=portrait_id)


def portrait_params(portrait: Portrait) -> PortraitParams:
    return job_selectors.job_params(job=portrait.job)


def portrait_file_name(portrait: Portrait) -> str:
    """`<concept-slug>-<index>.png`, from the concept as the pack was made (it may be renamed since)."""
    return f"{portrait_params(portrait).concept.slug}-{portrait.index}.png"


def portrait_image_key(portrait: Portrait) -> str | None:
    """The finished picture's storage key, only if it lies under its own job's prefix."""
    key = job_selectors.job_output_key(job=portrait.job, role="result")
    return key if key and job_selectors.key_under(key, portrait.job.output_prefix) else None


@dataclass(frozen=True)
class PictureRow:
    portrait: Portrait
    state: job_selectors.JobState

    @property
    def done(self) -> bool:
        return self.portrait.job.status == GenerationJob.Status.SUCCEEDED

    @property
    def finished(self) -> bool:
        return self.portrait.job.is_finished


@dataclass(frozen=True)
class PackProgress:
    total: int
    done: int  # succeeded
    failed: int  # failed or cancelled
    percent: float  # of the whole pack
    eta_seconds: int | None  # until the last picture is done (None: not known yet, or nothing left)
    cancelled: int = 0  # of `failed`, those cancelled

    @property
    def open(self) -> int:
        return self.total - self.done - self.failed

    @property
    def finished(self) -> bool:
        return self.open == 0


def pack_pictures(pack: Pack) -> list[PictureRow]:
    """Each picture with its live state (uses the prefetch of `packs_of`; the states are read at once,
    or come from `packs_states_preload`)."""
    portraits = list(pack.portraits.all())
    states = job_selectors.job_states(jobs=[p.job for p in portraits])
    return [PictureRow(portrait=p, state=state) for p, state in zip(portraits, states, strict=True)]


def packs_states_preload(packs) -> None:
    """The live states of a page of packs' pictures, read at once (one Redis round trip for the page)."""
    job_selectors.job_states_preload(portrait.job for pack in packs for portrait in pack.portraits.all())


def pack_progress(rows: list[PictureRow]) -> PackProgress:
    """The pack as a whole. The pictures are painted one after another, so the time left is what the
    running one has left plus, for each one still waiting, how long a picture of this pack took (or,
    before one is done, what the running one will have taken)."""
    total = len(rows)
    done = sum(1 for r in rows if r.done)
    failed = sum(1 for r in rows if r.finished and not r.done)
    cancelled = sum(1 for r in rows if r.state.status == GenerationJob.Status.CANCELLED)
    percent = round(sum(100.0 if r.finished else r.state.percent for r in rows) / total, 1) if total else 100.0
    took = [
        (r.portrait.job.finished_at - r.portrait.job.started_at).total_seconds()
        for r in rows
        if r.done and r.portrait.job.started_at and r.portrait.job.finished_at
    ]
    running = [r for r in rows if not r.finished and r.state.status == GenerationJob.Status.RUNNING]
    waiting = sum(1 for r in rows if not r.finished) - len(running)
    per_picture = statistics.median(took) if took else None
    left = 0.0
    for r in running:
        if r.state.eta_seconds is not None:
            left += r.state.eta_seconds
            if per_picture is None and r.portrait.job.started_at:
                per_picture = (timezone.now() - r.portrait.job.started_at).total_seconds() + r.state.eta_seconds
        elif per_picture is not None:
            left += per_picture * (100 - r.state.percent) / 100
        else:
            return PackProgress(total, done, failed, percent, None, cancelled)
    if waiting and per_picture is None:
        return PackProgress(total, done, failed, percent, None, cancelled)
    eta = round(left + waiting * (per_picture or 0)) or None
    return PackProgress(total=total, done=done, failed=failed, percent=percent, eta_seconds=eta, cancelled=cancelled)


def pack_zip(pack: Pack):
    """The pack's finished pictures as one zip (`<concept-slug>-<index>.png` each), in a temporary file
    that spills to disk past 16 MB; None when none is finished. The caller closes it."""
    rows = [(portrait, portrait_image_key(portrait)) for portrait in pack.portraits.all()]
    rows = [(portrait, key) for portrait, key in rows if key and default_storage.exists(key)]
    if not rows:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed
        for portrait, key in rows:
            with default_storage.open(key, "rb") as source, archive.open(portrait_file_name(portrait), "w") as out:
                while chunk := source.read(1024 * 1024):
                    out.write(chunk)
    spool.seek(0)
    return spool


@dataclass(frozen=True)
class AutoTone:
    tone: str
    confidence: float | None
    label: str  # "Auto: warm (82 % sure)", in the reader's language


def auto_tone(subject: Subject) -> AutoTone | None:
    """What "auto" would decide for the subject now (the form shows it next to the choice)."""
    model = personal_model_latest(subject=subject)
    if model is None:
        return None
    resolved = tone_resolve(subject=subject, model=model, requested="auto")
    return AutoTone(
        tone=resolved.tone,
        confidence=resolved.confidence,
        label=messages.tone_auto_label(resolved.tone, resolved.confidence),
    )


def pack_tone_label(pack: Pack) -> str:
    """The tone a pack was painted in, and how it was chosen."""
    if pack.tone_requested == "auto":
        return messages.tone_auto_label(pack.tone, pack.tone_confidence)
    return messages.tone_name(pack.tone)


def subject_has_open_portraits(subject: Subject) -> bool:
    return Pack.objects.filter(subject=subject).filter(Q(portraits__job__status__in=("queued", "running"))).exists()
