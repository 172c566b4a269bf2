"""The engine's own admin workflow: does a style's LoRA fit the base model (`lora_check`)?

Started from the style admin when a LoRA is uploaded (services.style_lora_check_start); its answer
makes the style's LoRA usable, or rejects it with the worker's reason.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from generation.handlers import JobHandler
from gpu_worker.contract.lora_check import CONTRACT, LoraCheckStage


class LoraCheckHandler(JobHandler):
    contract = CONTRACT
    verbose_name = _("LoRA check")
    finishing_label = _("Saving the check")
    listed_in_recent = False

    def daily_limit(self) -> int | None:
        return None  # staff only, one per uploaded file

    def stage_labels(self):
        return {
            LoraCheckStage.LOADING: _("Reading the LoRA"),
            LoraCheckStage.CHECKING: _("Loading it into the base model"),
            LoraCheckStage.DONE: _("Done"),
        }

    def detail_url(self, job) -> str:
        from generation.models import Style

        style = Style.objects.filter(lora_check_job=job).only("pk").first()
        if style is None:
            return reverse("admin:generation_style_changelist")
        return reverse("admin:generation_style_change", args=[style.pk])

    def on_success(self, *, job, result) -> None:
        from generation.services import style_lora_check_record

        style_lora_check_record(job=job, result=result)
