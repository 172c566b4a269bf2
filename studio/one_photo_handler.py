"""How the job engine talks about the one-photo studio profile."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from generation.handlers import JobHandler
from gpu_worker.contract.one_photo_profile import CONTRACT, OnePhotoError, OnePhotoStage


class OnePhotoProfileHandler(JobHandler):
    contract = CONTRACT
    verbose_name = _("One-photo studio profile")
    finishing_label = _("Putting it in your studio")
    nav = ((_("My studio profiles"), "studio:one_photo_list"),)
    pitch = _("One photo of you becomes a studio profile picture in the tone that suits you. No training, no waiting.")
    start_url_name = "studio:one_photo_new"
    payload_is_private = True

    def daily_limit(self) -> int | None:
        return settings.STUDIO_DAILY_ONE_PHOTO_PROFILES

    def stage_labels(self):
        return {
            OnePhotoStage.FINDING: _("Finding you in the photo"),
            OnePhotoStage.PAINTING: _("Painting the studio backdrop"),
            OnePhotoStage.DETAILING: _("Fixing the face"),
            OnePhotoStage.GRADING: _("Matching the tone"),
            OnePhotoStage.UPSCALING: _("Sharpening the picture"),
            OnePhotoStage.SAVING: _("Saving"),
            OnePhotoStage.DONE: _("Done"),
        }

    def painting_label(self, stage, step, total):
        if stage == OnePhotoStage.PAINTING:
            return _("Painting the studio backdrop (step %(step)s of %(total)s)") % {"step": step, "total": total}
        return None

    def error_messages(self):
        return {
            OnePhotoError.NO_PERSON: _("We could not find a person in this photo. Please use a photo of you."),
            OnePhotoError.SEVERAL_PEOPLE: _(
                "There is more than one person in this photo. Please use a photo of just you."
            ),
            OnePhotoError.NO_FACE: _("We could not see a face in this photo. Please use a photo that shows your face."),
        }

    def detail_url(self, job) -> str:
        return reverse("studio:one_photo", args=[job.id])
