"""How the job engine talks about the studio's two workflows: the photo check and the training."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from generation.handlers import JobHandler
from gpu_worker.contract import ErrorCode
from gpu_worker.contract.subject_photo_check import CONTRACT as CHECK_CONTRACT
from gpu_worker.contract.subject_photo_check import PhotoCheckStage
from gpu_worker.contract.subject_training import CONTRACT as TRAINING_CONTRACT
from gpu_worker.contract.subject_training import MIN_PHOTOS, TrainingError, TrainingStage


def _subject_url(subject_id) -> str:
    if subject_id is None:  # being deleted: the library is the next best page
        return reverse("studio:library")
    return reverse("studio:subject", args=[subject_id])


class PhotoCheckHandler(JobHandler):
    """A batch of a subject's photos, checked for training. A step inside the studio: no quota of its
    own (bounded by MAX_PHOTOS per subject and STUDIO_MAX_SUBJECTS)."""

    contract = CHECK_CONTRACT
    verbose_name = _("Photo check")
    finishing_label = _("Saving the results")
    payload_is_private = True
    listed_in_recent = False

    def daily_limit(self) -> int | None:
        return None

    def stage_labels(self):
        return {PhotoCheckStage.CHECKING: _("Checking your photos"), PhotoCheckStage.DONE: _("Done")}

    def error_messages(self):
        # The engine's generic words are about "pictures"; a check is about the person's photos.
        return {
            ErrorCode.CANCELLED: _("The check of your photos was cancelled."),
            ErrorCode.WORKER_LOST: _("We lost track of the check of your photos. Please check them again."),
            ErrorCode.INTERNAL: _("Something went wrong while checking your photos. Please check them again."),
            ErrorCode.TIMEOUT: _("Checking your photos took too long. Please check them again."),
            ErrorCode.OUT_OF_MEMORY: _(
                "Our GPU ran out of memory while checking your photos. Please check them again."
            ),
            ErrorCode.INPUT_MISSING: _("Some of your photos could not be found any more. Please upload them again."),
        }

    def detail_url(self, job) -> str:
        from studio.models import PhotoCheck

        return _subject_url(PhotoCheck.objects.filter(job=job).values_list("subject_id", flat=True).first())

    def on_success(self, *, job, result) -> None:
        from studio.services import photo_check_record

        photo_check_record(job=job, result=result)


class TrainingHandler(JobHandler):
    contract = TRAINING_CONTRACT
    verbose_name = _("Personal model")
    finishing_label = _("Putting it in your library")
    nav = ((_("My models"), "studio:library"),)
    pitch = _("Upload 5 to 20 photos of yourself or your pet, and OnTop trains a personal model that knows that face.")
    start_url_name = "studio:library"
    payload_is_private = True
    listed_in_recent = False
    # The engine enqueues a training again when its GPU worker dies; it resumes from its checkpoint.
    max_attempts = 3
    # Started trainings count even when cancelled: "train, watch the previews, cancel" is not free.
    cancel_counts_once_started = True

    def daily_limit(self) -> int | None:
        return settings.STUDIO_DAILY_TRAININGS

    def stage_labels(self):
        return {
            TrainingStage.PREPARING: _("Preparing your photos"),
            TrainingStage.TRAINING: _("Training"),
            TrainingStage.SAVING: _("Saving your model"),
            TrainingStage.DONE: _("Done"),
        }

    def painting_label(self, stage, step, total):
        if stage == TrainingStage.TRAINING:
            return _("Training (step %(step)s of %(total)s)") % {"step": step, "total": total}
        return None

    def error_messages(self):
        return {
            TrainingError.TOO_FEW_PHOTOS: _(
                "Fewer than %(min)s of your photos could be used. Add a few more clear photos and try again."
            )
            % {"min": MIN_PHOTOS},
            TrainingError.DIVERGED: _(
                "The training went wrong partway through, so there is no model to save. Please train again."
            ),
            # The engine's generic words are about "pictures"; these are about a training.
            ErrorCode.CANCELLED: _("You cancelled this training."),
            ErrorCode.WORKER_LOST: _("We lost track of this training. Please train again."),
            ErrorCode.INTERNAL: _("Something went wrong while training your model. Please try again."),
            ErrorCode.TIMEOUT: _("This training took too long. Please try again."),
            ErrorCode.OUT_OF_MEMORY: _("Our GPU ran out of memory while training your model. Please try again."),
            ErrorCode.INPUT_MISSING: _("Some of your photos could not be found any more. Please upload them again."),
        }

    def detail_url(self, job) -> str:
        from studio.models import Training

        return _subject_url(Training.objects.filter(job=job).values_list("subject_id", flat=True).first())

    def on_success(self, *, job, result) -> None:
        from studio.services import training_record

        training_record(job=job, result=result)

    def on_delete(self, *, job) -> None:
        # However the training's job is deleted (the job admin too), its model's pictures and their
        # files go first: the database cascade alone would drop their rows and leave their files.
        from studio.services import training_portraits_delete

        training_portraits_delete(job=job)
