"""The desk makeover's own knobs (ONTOP_GPU_ prefix); the generic diffusion ones are in gpu_worker.config."""

from __future__ import annotations

from dataclasses import dataclass

from gpu_worker.config import env_float, env_int


@dataclass(frozen=True)
class DeskSettings:
    box_threshold: float
    text_threshold: float
    desk_min_objects: int  # desk-object detections that make a photo "a desk" without a desk detection
    max_detections: int
    strength: float
    locate_threshold: float

    @classmethod
    def from_env(cls, preset: str) -> DeskSettings:
        return cls(
            box_threshold=env_float("BOX_THRESHOLD", 0.35, 0.0, 1.01),
            text_threshold=env_float("TEXT_THRESHOLD", 0.25, 0.0, 1.01),
            desk_min_objects=env_int("DESK_MIN_OBJECTS", 2, minimum=1),
            max_detections=env_int("MAX_DETECTIONS", 20, minimum=1),
            strength=env_float("STRENGTH", 0.99, 0.05, 1.0),
            locate_threshold=env_float("LOCATE_THRESHOLD", 0.3, 0.0, 1.01),
        )
