"""Product apps plug their workflows into the job engine here, from their `AppConfig.ready()`.

A handler says how the engine talks about one workflow (its stage labels, error messages, where
its page is) and what to do when a job of it succeeds (the makeover attaches shop offers; the
diary does nothing extra). The engine calls handlers; it never imports a product app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from gpu_worker.contract import ErrorCode, WorkflowContract
from gpu_worker.contract.preview import CONTRACT as PREVIEW_CONTRACT
from gpu_worker.contract.preview import PreviewStage

if TYPE_CHECKING:
    from generation.models import GenerationJob


class JobHandler:
    """One workflow's behaviour in the web tier. Subclass it in the product app and register it."""

    contract: WorkflowContract
    verbose_name: str | Promise = ""
    # The stage between "the GPU is done" and "succeeded", while `on_success` runs, and its words.
    finishing_stage: str = "finishing"
    finishing_label: str | Promise = _("Finishing")
    # Site navigation: (label, URL name) pairs shown to signed-in people.
    nav: tuple[tuple[str | Promise, str], ...] = ()
    # The job's params and result hold what the person wrote (a diary): the admin shows neither,
    # and does not offer "retry" (a job made outside the product's own pages would be an orphan).
    payload_is_private: bool = False
    # A card on the home page: one sentence, and the URL name where a person starts.
    pitch: str | Promise = ""
    start_url_name: str = ""
    # A job cancelled after it started still counts towards the daily limit (long, costly jobs).
    cancel_counts_once_started: bool = False
    # Listed under "Your recent pictures" on the home page (a photo check or a training is not a picture).
    listed_in_recent: bool = True
    # How many times a job may run when its GPU worker dies under it. Above 1 the workflow must
    # resume from what it stored under the job's output prefix (training checkpoints).
    max_attempts: int = 1

    def daily_limit(self) -> int | None:
        """Jobs of this kind a person may start per day (Asia/Seoul); None is no limit (a step
        inside another product's flow, bounded there)."""
        from django.conf import settings

        return settings.DAILY_GENERATION_LIMIT

    @property
    def kind(self) -> str:
        return self.contract.kind

    def stage_labels(self) -> dict[str, str | Promise]:
        """Words for each of the contract's stages; one missing is a test failure, not a blank."""
        return {}

    def painting_label(self, stage: str, step: int, total: int) -> str | None:
        """A stage label with the step count ("Painting (step 3 of 30)"), for stages that have steps."""
        return None

    def error_messages(self) -> dict[str, str | Promise]:
        """Messages for the workflow's own error codes (the engine has the generic ones)."""
        return {}

    def detail_url(self, job: GenerationJob) -> str:
        raise NotImplementedError

    def on_success(self, *, job: GenerationJob, result: Any) -> None:
        """Runs before the job is marked succeeded; `result` is the contract's typed result.
        Must not raise for the job's sake: errors are logged and the job still succeeds."""

    def on_delete(self, *, job: GenerationJob) -> None:
        """Runs before a job's row and files are deleted."""


class UnknownKindHandler(JobHandler):
    """Stands in for a kind no installed app handles any more: generic words, nothing typed."""

    contract = None  # type: ignore[assignment]

    @property
    def kind(self) -> str:
        return ""

    def detail_url(self, job) -> str:
        return reverse("generation:job_status", args=[job.id])


_HANDLERS: dict[str, JobHandler] = {}


def handler_register(handler: JobHandler) -> None:
    existing = _HANDLERS.get(handler.kind)
    if existing is not None and type(existing) is not type(handler):
        raise RuntimeError(f"two handlers for job kind {handler.kind!r}: {existing!r} and {handler!r}")
    _HANDLERS[handler.kind] = handler


def handler_for(kind: str, *, strict: bool = True) -> JobHandler:
    """The kind's handler. Pages and sweeps pass strict=False: a row whose app was removed still
    shows (generic labels, no typed result) instead of failing."""
    try:
        return _HANDLERS[kind]
    except KeyError:
        if not strict:
            return UnknownKindHandler()
        raise LookupError(f"no app registered a handler for job kind {kind!r}") from None


def handlers() -> list[JobHandler]:
    return list(_HANDLERS.values())


GENERIC_ERROR_MESSAGES: dict[str, str | Promise] = {
    ErrorCode.BAD_IMAGE: _("This file is not a photo we can read."),
    ErrorCode.BAD_PARAMS: _("This request could not be understood. Please try again."),
    ErrorCode.OUT_OF_MEMORY: _("Our GPU ran out of memory for this picture. Please try again."),
    ErrorCode.TIMEOUT: _("This took too long. Please try again."),
    ErrorCode.INPUT_MISSING: _("Your photo could not be found any more. Please upload it again."),
    ErrorCode.UNSUPPORTED_JOB: _("Our servers could not run this kind of picture right now. Please try again later."),
    ErrorCode.WORKER_LOST: _("We lost track of this picture. Please try again."),
    ErrorCode.CANCELLED: _("You cancelled this picture."),
    ErrorCode.INTERNAL: _("Something went wrong while making your picture."),
    "service_busy": _("Our servers are busy. Please try again in a minute."),
}


class PreviewHandler(JobHandler):
    """The engine's own smoke-test workflow (a greyscale copy of a photo): proves the whole path."""

    contract = PREVIEW_CONTRACT
    verbose_name = _("Preview")

    def stage_labels(self):
        return {
            PreviewStage.LOADING: _("Checking your photo"),
            PreviewStage.PREVIEW: _("Painting"),
            PreviewStage.SAVING: _("Saving"),
            PreviewStage.DONE: _("Done"),
        }

    def detail_url(self, job) -> str:
        return reverse("generation:job_status", args=[job.id])
