"""How the job engine talks about desk makeovers, and what happens when one succeeds (shop offers)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from generation.handlers import JobHandler
from gpu_worker.contract.desk_makeover import CONTRACT, DeskError, DeskResult, DeskStage


class MakeoverHandler(JobHandler):
    contract = CONTRACT
    verbose_name = _("Desk makeover")
    finishing_stage = "finding_deals"
    finishing_label = _("Finding deals")
    # The GPU time of a started makeover is spent: "start, cancel (or delete), repeat" must not be free.
    cancel_counts_once_started = True
    nav = ((_("New makeover"), "makeovers:new"), (_("My makeovers"), "makeovers:history"))

    def stage_labels(self):
        return {
            DeskStage.CHECKING: _("Checking your photo"),
            DeskStage.DETECTING: _("Finding your items"),
            DeskStage.PLANNING: _("Planning your makeover"),
            DeskStage.PAINTING: _("Painting"),
            DeskStage.LOCATING: _("Finding the new items"),
            DeskStage.UPSCALING: _("Sharpening the picture"),
            DeskStage.SAVING: _("Saving"),
            DeskStage.DONE: _("Done"),
        }

    def painting_label(self, stage, step, total):
        if stage == DeskStage.PAINTING:
            return _("Painting (step %(step)s of %(total)s)") % {"step": step, "total": total}
        return None

    def error_messages(self):
        return {
            DeskError.NOT_A_DESK: _(
                "This doesn't look like a desk. Take a photo of your whole desk from the front, "
                "with the desk surface and the things on it in view."
            ),
            DeskError.NO_FREE_SPACE: _(
                "There is no free space on this desk to add anything. Try a photo with some room."
            ),
        }

    def detail_url(self, job) -> str:
        return reverse("makeovers:detail", args=[job.id])

    def on_success(self, *, job, result: DeskResult) -> None:
        # Offers are looked up before the job shows "succeeded", so the item cards are there with it.
        from makeovers.services import makeover_offers_attach

        makeover_offers_attach(job=job, result=result)
