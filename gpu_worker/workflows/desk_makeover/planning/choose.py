from __future__ import annotations

import logging
from functools import cache

from PIL import Image

from gpu_worker.config import OpenAISettings
from gpu_worker.stages.types import Detection
from gpu_worker.workflows.desk_makeover.planning import Plan, PlannerError, Preferences, StyleHints
from gpu_worker.workflows.desk_makeover.planning.local import LocalPlanner

logger = logging.getLogger(__name__)


@cache
def _openai_planner(settings: OpenAISettings):
    """One client (and its connection pool) per process, not one per job."""
    from gpu_worker.workflows.desk_makeover.planning.openai_planner import OpenAIPlanner

    return OpenAIPlanner(settings)


def make_plan(
    settings: OpenAISettings,
    *,
    image: Image.Image,
    detections: list[Detection],
    preferences: Preferences,
    style: StyleHints,
) -> tuple[Plan, str | None]:
    """Returns the plan and, when the OpenAI planner failed and we fell back, why."""
    local = LocalPlanner()
    if not settings.openai_api_key:
        return local.plan(image=image, detections=detections, preferences=preferences, style=style), None
    try:
        plan = _openai_planner(settings).plan(image=image, detections=detections, preferences=preferences, style=style)
        return plan, None
    except PlannerError as exc:
        logger.warning("OpenAI planner failed (%s); using the local planner", exc)
        return local.plan(image=image, detections=detections, preferences=preferences, style=style), str(exc)
