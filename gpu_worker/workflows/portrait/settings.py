"""The portrait workflows' knobs (ONTOP_GPU_PORTRAIT_*), for both presets.

The concept says the steps and CFG a picture should get; on the `tiny` preset (CPU, random
weights) every pass is capped at a few steps so that tests and the demo finish in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_worker.config import env_float, env_int
from gpu_worker.stages.face_detail import DetailSettings
from gpu_worker.workflows.subject_photo_check.settings import SubjectSettings


@dataclass(frozen=True)
class PortraitSettings:
    max_steps: int  # a cap on every pass's denoising steps (the concept's own count below it)
    detail: DetailSettings  # the face (and hand) fix: ADetailer's defaults on the real preset
    grade_strength: float  # how much of the warm/cool grade is blended in (0: none, 1: all)
    subject: SubjectSettings  # finding the person in a one-photo profile
    # The one-photo profile keeps the person's face; the detailer only blends its light into the
    # repainted picture, so it runs far lighter than ADetailer's 0.4.
    one_photo_detail_strength: float

    @classmethod
    def from_env(cls, preset: str) -> PortraitSettings:
        tiny = preset == "tiny"
        return cls(
            max_steps=env_int("PORTRAIT_MAX_STEPS", 3 if tiny else 100, minimum=1),
            detail=DetailSettings.for_preset(preset),
            grade_strength=env_float("PORTRAIT_GRADE_STRENGTH", 0.35, 0.0, 1.0),
            subject=SubjectSettings.from_env(preset),
            one_photo_detail_strength=env_float("PORTRAIT_ONE_PHOTO_DETAIL_STRENGTH", 0.2, 0.0, 1.0),
        )
