"""Reads for desk makeovers, always scoped to their owner."""

from __future__ import annotations

from django.db.models import QuerySet

from generation import selectors as job_selectors
from generation.models import GenerationJob
from gpu_worker.contract.desk_makeover import KIND, DeskResult
from shop import selectors as shop_selectors


def makeovers_of(*, owner) -> QuerySet[GenerationJob]:
    return job_selectors.jobs_of(owner=owner, kind=KIND)


def makeovers_listed(*, owner) -> QuerySet[GenerationJob]:
    """For a list: each page's recommended items come in two queries, however many rows it has."""
    return makeovers_of(owner=owner).prefetch_related(shop_selectors.recommendations_prefetch())


def makeover_get(*, owner, job_id) -> GenerationJob:
    return job_selectors.job_get(owner=owner, job_id=job_id, kind=KIND)


def makeover_items(*, job: GenerationJob) -> list[dict]:
    """Recommended items with hotspots as percentages, for pins on the result picture."""
    result: DeskResult | None = job_selectors.job_result(job=job)
    if result is None:
        return []
    return [
        {
            "number": number,
            "label": item.label,
            "label_ko": item.label_ko,
            "query_ko": item.query_ko,
            "placement": item.placement,
            "placement_ko": item.placement_ko,
            "left": round(item.hotspot.x * 100, 2) if item.hotspot else None,
            "top": round(item.hotspot.y * 100, 2) if item.hotspot else None,
        }
        for number, item in enumerate(result.items, start=1)
    ]
