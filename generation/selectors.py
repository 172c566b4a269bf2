"""Reads. Everything is scoped to an owner: nobody can read what is not theirs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from generation import dispatch
from generation.models import GenerationJob, Showcase, Style


def stage_label(stage: str, step: int = 0, total: int = 0) -> str:
    """The stage in the words the progress page shows (translated)."""
    labels = {
        "queued": _("Waiting in line"),
        "loading": _("Checking your photo"),
        "checking": _("Checking your photo"),
        "detecting": _("Finding your items"),
        "planning": _("Planning your makeover"),
        "painting": _("Painting"),
        "preview": _("Painting"),
        "locating": _("Finding the new items"),
        "upscaling": _("Sharpening the picture"),
        "saving": _("Saving"),
        "finding_deals": _("Finding deals"),
        "done": _("Done"),
        "failed": _("Something went wrong"),
        "cancelled": _("Cancelled"),
        "unknown": _("Checking status…"),
    }
    label = labels.get(stage, stage)
    if stage == "painting" and total:
        return _("Painting (step %(step)s of %(total)s)") % {"step": step, "total": total}
    return str(label)


def showcases() -> QuerySet[Showcase]:
    return Showcase.objects.filter(is_active=True)


def styles_active() -> QuerySet[Style]:
    return Style.objects.filter(is_active=True)


def jobs_of(*, owner) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(owner=owner).select_related("upload", "style")


def job_get(*, owner, job_id) -> GenerationJob:
    return get_object_or_404(jobs_of(owner=owner), pk=job_id)


@dataclass(frozen=True)
class JobState:
    status: str
    status_label: str
    stage: str
    stage_label: str
    percent: float
    step: int
    total_steps: int
    queue_position: int | None
    eta_seconds: int | None
    error_code: str
    error_message: str


def job_state(*, job: GenerationJob) -> JobState:
    """Database status, enriched with live progress from Redis while the job is open."""
    stage, percent, step, total, position, eta = "", 0.0, 0, 0, None, None
    status = job.status
    if job.is_finished:
        percent = 100.0 if job.status == GenerationJob.Status.SUCCEEDED else 0.0
        stage = "done" if job.status == GenerationJob.Status.SUCCEEDED else job.status
    else:
        try:
            rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
            if rq_job is not None:
                rq_status = rq_job.get_status(refresh=False)  # just fetched
                progress = dispatch.gpu_job_progress(rq_job)
                if rq_status in ("finished", "failed"):
                    # The GPU is done; the Django-side worker is finding deals and recording it.
                    status, stage, percent = GenerationJob.Status.RUNNING, "finding_deals", 99.0
                elif progress is not None:
                    status = GenerationJob.Status.RUNNING
                    stage, percent, step, total = progress.stage, progress.percent, progress.step, progress.total_steps
                    eta = _eta_seconds(rq_job.started_at, percent)
                elif rq_status == "queued":
                    position = rq_job.get_position()
                    stage = "queued"
        except RedisError:
            stage = "unknown"
    return JobState(
        status=status,
        status_label=str(GenerationJob.Status(status).label),
        stage=stage,
        stage_label=stage_label(stage, step, total),
        percent=round(percent, 1),
        step=step,
        total_steps=total,
        queue_position=position,
        eta_seconds=eta,
        error_code=job.error_code,
        error_message=job.error_message,
    )


def _eta_seconds(started_at, percent: float) -> int | None:
    """Time left if the rest goes as fast as what is done (only once there is enough to go on)."""
    if started_at is None or percent < 5:
        return None
    if timezone.is_naive(started_at):
        started_at = started_at.replace(tzinfo=UTC)
    elapsed = (timezone.now() - started_at).total_seconds()
    return max(1, round(elapsed * (100 - percent) / percent))


def job_output_key(*, job: GenerationJob, role: str) -> str | None:
    if job.status != GenerationJob.Status.SUCCEEDED or not job.result:
        return None
    for output in job.result.get("outputs", []):
        if output.get("role") == role:
            return output.get("key")
    return None


def job_items(*, job: GenerationJob) -> list[dict]:
    """Recommended items with hotspots as percentages, for pins on the result picture."""
    if job.status != GenerationJob.Status.SUCCEEDED or not job.result:
        return []
    items = []
    for number, item in enumerate(job.result.get("data", {}).get("items", []), start=1):
        hotspot = item.get("hotspot")
        items.append(
            {
                "number": number,
                "label": item.get("label", ""),
                "query_ko": item.get("query_ko", ""),
                "placement": item.get("placement", ""),
                "left": round(hotspot["x"] * 100, 2) if hotspot else None,
                "top": round(hotspot["y"] * 100, 2) if hotspot else None,
            }
        )
    return items
