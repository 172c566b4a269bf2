"""The picture diary's part of the contract: a diary entry becomes the picture of the day."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from gpu_worker.contract import StyleSpec, WorkflowContract

KIND = "picture_diary"
MAX_TEXT_CHARS = 2000
# Moods a person can pick; "" is "not said". The prompt writers know each of them.
MOODS = ("", "happy", "calm", "excited", "grateful", "tired", "sad", "angry")


class DiaryStage(enum.StrEnum):
    WRITING = "writing"  # the diary text becomes a prompt
    PAINTING = "painting"
    UPSCALING = "upscaling"
    SAVING = "saving"
    DONE = "done"


class DiaryError(enum.StrEnum):
    EMPTY_ENTRY = "empty_entry"


@dataclass(frozen=True)
class DiaryParams:
    text: str
    seed: int
    mood: str = ""
    orientation: Literal["landscape", "portrait"] = "landscape"  # a 4:3 or 3:4 bucket
    style: StyleSpec | None = None

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TEXT_CHARS:
            raise ValueError(f"a diary entry has at most {MAX_TEXT_CHARS} characters")
        if self.mood not in MOODS:
            raise ValueError(f"unknown mood {self.mood!r}")


@dataclass(frozen=True)
class DiaryResult:
    seed: int
    steps: int
    guidance: float
    prompt: str
    negative_prompt: str
    writer: str  # "local" or "openai:<model>"
    writer_fallback_reason: str | None  # why the LLM writer was not used, when it was configured
    style: str
    lora: str | None
    width: int
    height: int


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu-diary",
    timeout_seconds=10 * 60,
    params=DiaryParams,
    result=DiaryResult,
    stages=DiaryStage,
    errors=DiaryError,
)
