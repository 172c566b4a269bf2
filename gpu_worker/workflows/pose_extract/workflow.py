"""Pose extraction: photo → Grounding DINO "person" boxes → the largest person → ViTPose → COCO-18 keypoints.

Detection runs on a working copy (like the photo check, and with its detector settings,
ONTOP_GPU_SUBJECT_*); the pose is estimated on the original photo, in the largest person's box
scaled back to it. The result is what a pose card (`PoseSpec`) holds.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from gpu_worker.contract.pose_extract import (
    CONTRACT,
    PHOTO_INPUT,
    PoseExtractError,
    PoseExtractParams,
    PoseExtractResult,
    PoseExtractStage,
)
from gpu_worker.errors import BadParams, WorkflowError
from gpu_worker.images import decode_rgb
from gpu_worker.stages.detect import detect
from gpu_worker.stages.pose_estimate import estimate_pose
from gpu_worker.stages.subject import working_copy
from gpu_worker.stages.types import Detection
from gpu_worker.workflow import WorkflowContext, workflow
from gpu_worker.workflows.subject_photo_check.settings import SubjectSettings

PERSON_LABEL = "person"
MIN_SEEN_KEYPOINTS = 2  # what a pose needs (portrait.check_keypoints)


class NoPerson(WorkflowError):
    code = PoseExtractError.NO_PERSON


def sample(size: int) -> tuple[PoseExtractParams, dict[str, bytes]]:
    """The benchmark's job: one synthetic 3:4 photo of a stick figure on a plain wall."""
    width, height = size * 3 // 4, size
    photo = Image.fromarray(np.full((height, width, 3), 200, dtype=np.uint8))
    draw = ImageDraw.Draw(photo)
    cx, line = width // 2, max(2, size // 40)
    draw.ellipse((cx - size // 12, size // 10, cx + size // 12, size // 10 + size // 6), fill=(220, 180, 150))
    draw.line((cx, size // 4, cx, size * 3 // 5), fill=(40, 60, 120), width=line * 3)
    draw.line((cx - size // 5, size // 3, cx + size // 5, size // 3), fill=(40, 60, 120), width=line)
    draw.line((cx, size * 3 // 5, cx - size // 8, size * 9 // 10), fill=(30, 30, 30), width=line)
    draw.line((cx, size * 3 // 5, cx + size // 8, size * 9 // 10), fill=(30, 30, 30), width=line)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    return PoseExtractParams(), {PHOTO_INPUT: buffer.getvalue()}


def largest_person(detections: list[Detection]) -> Detection | None:
    people = [d for d in detections if d.label == PERSON_LABEL]
    return max(people, key=lambda d: (d.area, d.score)) if people else None


@workflow(CONTRACT, models=("detector", "pose_estimator"), settings=SubjectSettings.from_env, sample=sample)
def run(ctx: WorkflowContext, params: PoseExtractParams) -> PoseExtractResult:
    if not 0.0 <= params.min_keypoint_score <= 1.0:
        raise BadParams("min_keypoint_score must be between 0 and 1.")
    settings: SubjectSettings = ctx.settings
    ctx.progress.report(PoseExtractStage.FINDING, 5)
    with ctx.timed("load"):
        original = decode_rgb(ctx.read_input(PHOTO_INPUT))
        work, scale = working_copy(original, settings.work_long_side)
    with ctx.timed("detect"):
        detections = detect(
            ctx.models.get("detector"),
            work,
            (PERSON_LABEL,),
            box_threshold=settings.box_threshold,
            max_detections=settings.max_detections,
        )
    person = largest_person(detections)
    if person is None:
        raise NoPerson("No person was found in the photo.")
    people = sum(1 for d in detections if d.label == PERSON_LABEL)
    box = [
        min(max(v * scale, 0.0), limit)
        for v, limit in zip(person.box, (original.width, original.height) * 2, strict=True)
    ]
    ctx.progress.report(PoseExtractStage.FINDING, 50)
    with ctx.timed("pose"):
        keypoints = estimate_pose(ctx.models.get("pose_estimator"), original, box, min_score=params.min_keypoint_score)
    if sum(1 for row in keypoints if row[2] > 0) < MIN_SEEN_KEYPOINTS:
        raise NoPerson("A person was found, but too little of their body was seen to make a pose.")
    ctx.progress.report(PoseExtractStage.DONE, 100)
    return PoseExtractResult(
        keypoints=keypoints,
        aspect=round(original.width / original.height, 4),
        person_box=[round(v, 1) for v in box],
        people=people,
    )
