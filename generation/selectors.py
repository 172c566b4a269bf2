"""Reads. Everything is scoped to an owner: nobody can read what is not theirs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from redis.exceptions import RedisError

from generation import dispatch
from generation.models import GenerationJob, Style


def styles_active() -> QuerySet[Style]:
    return Style.objects.filter(is_active=True)


def jobs_of(*, owner) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(owner=owner).select_related("upload", "style")


def job_get(*, owner, job_id) -> GenerationJob:
    return get_object_or_404(jobs_of(owner=owner), pk=job_id)


@dataclass(frozen=True)
class JobState:
    status: str
    stage: str
    percent: float
    step: int
    total_steps: int
    queue_position: int | None
    error_code: str
    error_message: str


def job_state(*, job: GenerationJob) -> JobState:
    """Database status, enriched with live progress from Redis while the job is open."""
    stage, percent, step, total, position = "", 0.0, 0, 0, None
    status = job.status
    if job.is_finished:
        percent = 100.0 if job.status == GenerationJob.Status.SUCCEEDED else 0.0
        stage = "done" if job.status == GenerationJob.Status.SUCCEEDED else job.status
    else:
        try:
            rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
            if rq_job is not None:
                rq_status = rq_job.get_status()
                progress = dispatch.gpu_job_progress(rq_job)
                if rq_status in ("finished", "failed"):
                    # The GPU is done; the Django-side worker is finding deals and recording it.
                    status, stage, percent = GenerationJob.Status.RUNNING, "finding_deals", 99.0
                elif progress is not None:
                    status = GenerationJob.Status.RUNNING
                    stage, percent, step, total = progress.stage, progress.percent, progress.step, progress.total_steps
                elif rq_status == "queued":
                    position = rq_job.get_position()
                    stage = "queued"
        except RedisError:
            stage = "unknown"
    return JobState(
        status=status,
        stage=stage,
        percent=round(percent, 1),
        step=step,
        total_steps=total,
        queue_position=position,
        error_code=job.error_code,
        error_message=job.error_message,
    )


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
