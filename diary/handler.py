"""How the job engine talks about diary pictures, and where a picture's page is (its entry's page)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from diary.models import DiaryPicture
from generation.handlers import JobHandler
from gpu_worker.contract.picture_diary import CONTRACT, DiaryError, DiaryStage


class DiaryHandler(JobHandler):
    contract = CONTRACT
    verbose_name = _("Picture diary")
    finishing_label = _("Putting it in your diary")
    nav = ((_("My diary"), "diary:calendar"),)
    pitch = _("Write about your day in Korean or English, and get the picture of the day in the art style you like.")
    start_url_name = "diary:new"
    payload_is_private = True

    def stage_labels(self):
        return {
            DiaryStage.WRITING: _("Reading your diary"),
            DiaryStage.PAINTING: _("Painting"),
            DiaryStage.UPSCALING: _("Sharpening the picture"),
            DiaryStage.SAVING: _("Saving"),
            DiaryStage.DONE: _("Done"),
        }

    def painting_label(self, stage, step, total):
        if stage == DiaryStage.PAINTING:
            return _("Painting (step %(step)s of %(total)s)") % {"step": step, "total": total}
        return None

    def error_messages(self):
        return {
            DiaryError.EMPTY_ENTRY: _("This diary entry has nothing to paint. Write a few words and try again."),
        }

    def detail_url(self, job) -> str:
        entry_id = DiaryPicture.objects.filter(job=job).values_list("entry_id", flat=True).first()
        if entry_id is None:  # a picture whose entry is being deleted: the diary itself is the next best page
            return reverse("diary:calendar")
        return reverse("diary:detail", args=[entry_id])
