"""The one-photo studio profile: one photo of a person becomes an ID-photo-style studio portrait.

No training and no personal model. The GPU segments the person, keeps the face exactly, repaints
the background (a studio backdrop) and lightly the clothing, then fixes the face's edges, grades
the picture warm or cool and upscales it. "auto" decides the tone from the photo's own skin
(contract/tone.py); the result says which tone it chose and how sure it was.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gpu_worker.contract import ContractError, WorkflowContract
from gpu_worker.contract.tone import TONE_CHOICES, SkinReading, ToneChoice

KIND = "one_photo_profile"
PHOTO_INPUT = "photo"
# The backdrops a person can pick, and the words that paint them.
BACKGROUNDS: dict[str, str] = {
    "white": "plain white studio backdrop",
    "light_grey": "plain light grey studio backdrop",
    "sky_blue": "plain soft sky blue studio backdrop",
    "beige": "plain warm beige studio backdrop",
    "charcoal": "plain dark charcoal studio backdrop",
}


class OnePhotoStage(enum.StrEnum):
    FINDING = "finding"  # the person, their face and their skin
    PAINTING = "painting"  # the backdrop and clothing
    DETAILING = "detailing"
    GRADING = "grading"
    UPSCALING = "upscaling"
    SAVING = "saving"
    DONE = "done"


class OnePhotoError(enum.StrEnum):
    NO_PERSON = "no_person"
    SEVERAL_PEOPLE = "several_people"
    NO_FACE = "no_face"


@dataclass(frozen=True)
class OnePhotoParams:
    seed: int
    tone: ToneChoice = "auto"
    background: str = "light_grey"
    # How much of the clothing is repainted (inpaint strength there); the backdrop is repainted fully.
    clothing_strength: float = 0.35

    def __post_init__(self) -> None:
        if self.tone not in TONE_CHOICES:
            raise ContractError(f"unknown tone {self.tone!r}")
        if self.background not in BACKGROUNDS:
            raise ContractError(f"unknown background {self.background!r}")
        if not 0.0 <= self.clothing_strength <= 0.6:
            raise ContractError("clothing_strength must be between 0 and 0.6")


@dataclass(frozen=True)
class OnePhotoResult:
    seed: int
    tone: str  # the tone used: warm, cool or neutral
    tone_requested: str
    tone_confidence: float  # 1.0 when the person chose it
    skin: SkinReading | None
    background: str
    prompt: str
    scheduler: str
    width: int
    height: int


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu-studio",
    timeout_seconds=10 * 60,
    params=OnePhotoParams,
    result=OnePhotoResult,
    stages=OnePhotoStage,
    errors=OnePhotoError,
)
