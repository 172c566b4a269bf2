"""The desk makeover's part of the contract: params, result, stages and its own error codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from gpu_worker.contract import StyleSpec, WorkflowContract

KIND = "desk_makeover"
PHOTO_INPUT = "photo"  # the one named input: the normalised desk photo
# Output roles: "result" (JPEG), "mask" (PNG) and the result's lossless copy, served only on an
# explicit PNG download (jobs from before it have a PNG "result" and no such role).
RESULT_PNG_ROLE = "result_png"


class DeskStage(enum.StrEnum):
    CHECKING = "checking"
    DETECTING = "detecting"
    PLANNING = "planning"
    PAINTING = "painting"
    LOCATING = "locating"
    UPSCALING = "upscaling"
    SAVING = "saving"
    DONE = "done"


class DeskError(enum.StrEnum):
    NOT_A_DESK = "not_a_desk"
    NO_FREE_SPACE = "no_free_space"


Tone = Literal["neutral", "warm", "cool"]


@dataclass(frozen=True)
class DeskPreferences:
    tone: Tone = "neutral"
    budget_min: int | None = None
    budget_max: int | None = None
    include_categories: list[str] = field(default_factory=list)
    avoid_categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeskParams:
    seed: int
    preferences: DeskPreferences = field(default_factory=DeskPreferences)
    style: StyleSpec | None = None


@dataclass(frozen=True)
class Hotspot:
    x: float  # 0–1, the item's centre in the final picture
    y: float
    box: list[float]  # x0, y0, x1, y1 in 0–1
    score: float


@dataclass(frozen=True)
class PlannedItem:
    label: str  # English, what the detector looks for ("desk lamp")
    query_ko: str  # the Korean Naver Shopping query
    category: str
    placement: str  # English
    hotspot: Hotspot | None = None
    # The Korean page's words (empty in results from before they existed: the English is shown).
    label_ko: str = ""
    placement_ko: str = ""


@dataclass(frozen=True)
class DetectionBox:
    label: str
    score: float
    box: list[float]  # 0–1


@dataclass(frozen=True)
class Framing:
    original_size: list[int]
    work_size: list[int]


@dataclass(frozen=True)
class DeskResult:
    seed: int
    steps: int
    guidance: float
    strength: float
    prompt: str
    negative_prompt: str
    planner: str
    planner_fallback_reason: str | None
    style: str
    lora: str | None
    framing: Framing
    mask_coverage: float
    perception_cached: bool
    detections: list[DetectionBox]
    items: list[PlannedItem]


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu",
    timeout_seconds=15 * 60,
    params=DeskParams,
    result=DeskResult,
    stages=DeskStage,
    errors=DeskError,
)
