"""Plan a makeover: the inpainting prompt and 3–6 recommended items to add.

Two planners behind one interface: `OpenAIPlanner` (a vision model through the official
`openai` client) when an API key is configured, and the deterministic `LocalPlanner`
otherwise. A failing OpenAI call falls back to the local planner, and the result says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from PIL import Image

from gpu_worker.contract.desk_makeover import DeskPreferences
from gpu_worker.stages.types import Detection

CATEGORIES = ("lighting", "plants", "organizers", "accessories", "audio", "decor", "tech")
TONES = ("warm", "cool", "neutral")


class PlannerError(Exception):
    """The planner could not produce a valid plan (the caller falls back)."""


@dataclass(frozen=True)
class RecommendedItem:
    label: str  # English, what the detector looks for in the result ("desk lamp")
    query_ko: str  # Korean Naver Shopping query ("LED 데스크 스탠드")
    category: str
    placement: str  # English, a few words ("back left corner")
    # What the person reads on a Korean page: the item's name and its place, in Korean.
    label_ko: str = ""
    placement_ko: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preferences:
    tone: str = "neutral"
    include_categories: tuple[str, ...] = ()
    avoid_categories: tuple[str, ...] = ()

    @classmethod
    def from_contract(cls, preferences: DeskPreferences) -> Preferences:
        """What the planner can use of the person's preferences (categories it knows)."""
        include = tuple(c for c in preferences.include_categories if c in CATEGORIES)
        avoid = tuple(c for c in preferences.avoid_categories if c in CATEGORIES)
        tone = preferences.tone if preferences.tone in TONES else "neutral"
        return cls(tone=tone, include_categories=include, avoid_categories=avoid)


@dataclass(frozen=True)
class StyleHints:
    name: str = ""
    prompt_addition: str = ""
    negative_prompt_addition: str = ""


@dataclass(frozen=True)
class Plan:
    prompt: str
    negative_prompt: str
    items: list[RecommendedItem] = field(default_factory=list)
    planner: str = "local"


class Planner(Protocol):
    name: str

    def plan(
        self, *, image: Image.Image, detections: list[Detection], preferences: Preferences, style: StyleHints
    ) -> Plan: ...
