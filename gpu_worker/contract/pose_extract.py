"""An admin tool: the body pose of the person in a reference photo, as OpenPose keypoints.

Person boxes come from Grounding DINO ("person"), keypoints from ViTPose (transformers, COCO-17),
converted to OpenPose's COCO-18 order (the neck is the shoulders' midpoint). The result is what a
`PoseSpec` holds, so an admin can save it as a pose card.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gpu_worker.contract import WorkflowContract

KIND = "pose_extract"
PHOTO_INPUT = "photo"


class PoseExtractStage(enum.StrEnum):
    FINDING = "finding"
    DONE = "done"


class PoseExtractError(enum.StrEnum):
    NO_PERSON = "no_person"


@dataclass(frozen=True)
class PoseExtractParams:
    min_keypoint_score: float = 0.3  # keypoints below it are "not seen" (confidence 0)


@dataclass(frozen=True)
class PoseExtractResult:
    keypoints: list[list[float]]  # portrait.POSE_KEYPOINTS order, [x, y, confidence], 0-1 of the frame
    aspect: float  # the frame's width / height
    person_box: list[float]  # x0, y0, x1, y1 in the photo's pixels
    people: int  # people found (the largest one is used)


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu-studio",
    timeout_seconds=5 * 60,
    params=PoseExtractParams,
    result=PoseExtractResult,
    stages=PoseExtractStage,
    errors=PoseExtractError,
)
