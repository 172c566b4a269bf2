"""How the job engine talks about portraits (one picture of a pack) and the admin's pose extraction."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from generation.handlers import JobHandler
from gpu_worker.contract.portrait import CONTRACT as PORTRAIT_CONTRACT
from gpu_worker.contract.portrait import PortraitError, PortraitStage
from gpu_worker.contract.pose_extract import CONTRACT as POSE_CONTRACT
from gpu_worker.contract.pose_extract import PoseExtractError, PoseExtractStage


class PortraitHandler(JobHandler):
    """One picture of a pack. A pack of N is N jobs: each counts towards the day's portraits."""

    contract = PORTRAIT_CONTRACT
    verbose_name = _("Profile portrait")
    finishing_label = _("Putting it in your pack")
    payload_is_private = True
    listed_in_recent = False  # shown in its pack, with the pack's own page
    # A started picture still counts when cancelled: "make 12, cancel at 95 %, repeat" is not free.
    cancel_counts_once_started = True

    def daily_limit(self) -> int | None:
        return settings.STUDIO_DAILY_PORTRAITS

    def stage_labels(self):
        return {
            PortraitStage.WRITING: _("Reading your words"),
            PortraitStage.PAINTING: _("Painting"),
            PortraitStage.DETAILING: _("Fixing the face"),
            PortraitStage.FILTERING: _("Applying the filter"),
            PortraitStage.GRADING: _("Matching the tone"),
            PortraitStage.UPSCALING: _("Sharpening the picture"),
            PortraitStage.SAVING: _("Saving"),
            PortraitStage.DONE: _("Done"),
        }

    def painting_label(self, stage, step, total):
        if stage == PortraitStage.PAINTING:
            return _("Painting (step %(step)s of %(total)s)") % {"step": step, "total": total}
        if stage == PortraitStage.DETAILING:
            return _("Fixing the face (step %(step)s of %(total)s)") % {"step": step, "total": total}
        return None

    def error_messages(self):
        return {
            PortraitError.MODEL_MISMATCH: _(
                "Your personal model was trained on an older version of our painter. Please train it again."
            ),
            PortraitError.MODEL_INVALID: _("Your personal model's files could not be read. Please train it again."),
        }

    def detail_url(self, job) -> str:
        from studio.models import Portrait

        pack_id = Portrait.objects.filter(job=job).values_list("pack_id", flat=True).first()
        if pack_id is None:  # being deleted: the library is the next best page
            return reverse("studio:library")
        return reverse("studio:pack", args=[pack_id])

    def on_success(self, *, job, result) -> None:
        from studio.services import portrait_record

        portrait_record(job=job, result=result)


class PoseExtractHandler(JobHandler):
    """An admin's "extract the pose from the reference photo": fills the pose's keypoints."""

    contract = POSE_CONTRACT
    verbose_name = _("Pose extraction")
    finishing_label = _("Saving the pose")
    listed_in_recent = False

    def daily_limit(self) -> int | None:
        return None  # staff only

    def stage_labels(self):
        return {PoseExtractStage.FINDING: _("Finding the pose"), PoseExtractStage.DONE: _("Done")}

    def error_messages(self):
        return {PoseExtractError.NO_PERSON: _("No person was found in the reference photo.")}

    def detail_url(self, job) -> str:
        return reverse("admin:studio_pose_changelist")

    def on_success(self, *, job, result) -> None:
        from studio.services import pose_extraction_record

        pose_extraction_record(job=job, result=result)
