"""The subject stages' knobs (ONTOP_GPU_SUBJECT_*), shared by the photo check and the training's preparation.

The `real` preset uses the real thresholds. The `tiny` preset's random-weight detector cannot
see: it scores almost every box near 1.0 with a random label and puts boxes anywhere. To let the
demo and the end-to-end tests get photos through, the tiny preset

- keeps every box (`box_threshold` 0) and counts only the best-scoring subject box
  (`best_subject_only`), so each readable photo has exactly one subject;
- turns the face check off (`min_face_px` 0), because a random face box rarely lies inside the
  random subject box;
- works on small images (`work_long_side` 256), the tiny detector resizes to 192 px anyway.

Sharpness does not depend on a model, so both presets use the same threshold and a blurry photo
is rejected in the tiny preset too. The environment variables override either preset.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_worker.config import env_float, env_int
from gpu_worker.stages.photo_quality import DEFAULT_MIN_SHARPNESS

# Grounding DINO's usual box threshold (its authors' demo default, and the desk makeover's).
REAL_BOX_THRESHOLD = 0.35
# A face whose shorter side has 128 px in the photo still gives a sharp close-up training crop
# (the crop is ~2.2 face widths, so it is enlarged at most ~4x to 1024 px); smaller faces teach
# the model mush.
REAL_MIN_FACE_PX = 128
# A pet's box needs a shorter side of 256 px in the photo: its crop (1.15 box sides) is enlarged at
# most ~3.5x to 1024 px; a pet across a room is a few hundred blurry pixels of fur.
REAL_MIN_SUBJECT_PX = 256


@dataclass(frozen=True)
class SubjectSettings:
    box_threshold: float  # Grounding DINO score a subject or face box needs
    min_face_px: int  # a person's face box, shorter side, in the original photo's pixels; 0: no face check
    min_sharpness: float  # variance of the Laplacian at the check size (gpu_worker.stages.photo_quality)
    work_long_side: int  # photos are downscaled to this longer side before detection
    best_subject_only: bool = False  # count only the best subject box (the tiny preset's random detector)
    max_detections: int = 20
    # A pet's box, shorter side, in the original photo's pixels; 0: no size check.
    min_subject_px: int = 0
    # A subject box smaller than this share of the largest one is someone in the background,
    # not a second subject: a passer-by behind a portrait does not spoil the photo.
    background_area_ratio: float = 0.1

    @classmethod
    def from_env(cls, preset: str) -> SubjectSettings:
        tiny = preset == "tiny"
        return cls(
            box_threshold=env_float("SUBJECT_BOX_THRESHOLD", 0.0 if tiny else REAL_BOX_THRESHOLD, 0.0, 1.01),
            min_face_px=env_int("SUBJECT_MIN_FACE_PX", 0 if tiny else REAL_MIN_FACE_PX, minimum=0),
            min_subject_px=env_int("SUBJECT_MIN_PET_PX", 0 if tiny else REAL_MIN_SUBJECT_PX, minimum=0),
            min_sharpness=env_float("SUBJECT_MIN_SHARPNESS", DEFAULT_MIN_SHARPNESS, 0.0, 1e9),
            work_long_side=256 if tiny else 1024,
            best_subject_only=tiny,
        )
