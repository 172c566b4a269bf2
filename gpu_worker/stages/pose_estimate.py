"""One person's body pose: ViTPose's COCO-17 keypoints, converted to OpenPose's COCO-18 order.

ViTPose is top-down: it looks at the crop around one person box and predicts a heatmap per COCO
keypoint; the heatmap's peak is the keypoint and its height the score. OpenPose (what pose
ControlNets were trained on, and what `portrait.POSE_KEYPOINTS` lists) orders the same points
differently and adds a neck. The mapping, OpenPose index ← COCO index:

     0 nose            ← 0 nose              9 right_knee   ← 14 right_knee
     1 neck            ← midpoint of 5 and 6 10 right_ankle ← 16 right_ankle
     2 right_shoulder  ← 6 right_shoulder   11 left_hip     ← 11 left_hip
     3 right_elbow     ← 8 right_elbow      12 left_knee    ← 13 left_knee
     4 right_wrist     ← 10 right_wrist     13 left_ankle   ← 15 left_ankle
     5 left_shoulder   ← 5 left_shoulder    14 right_eye    ← 2 right_eye
     6 left_elbow      ← 7 left_elbow       15 left_eye     ← 1 left_eye
     7 left_wrist      ← 9 left_wrist       16 right_ear    ← 4 right_ear
     8 right_hip       ← 12 right_hip       17 left_ear     ← 3 left_ear

(`COCO_INDEX` below is derived from the two name lists, so it cannot drift from them.) The neck is
seen only when both shoulders are; its confidence is the lower of theirs. Coordinates are
normalised to 0-1 of the whole image; a keypoint whose score is below the threshold, or that
lies outside the image (ViTPose guesses limbs beyond the crop), is [0, 0, 0]: not seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from gpu_worker.contract.portrait import POSE_KEYPOINTS
from gpu_worker.pose_models import COCO_KEYPOINTS

NECK = "neck"
# For each OpenPose keypoint, the COCO keypoint it is (None for the neck, which COCO lacks).
COCO_INDEX: tuple[int | None, ...] = tuple(
    None if name == NECK else COCO_KEYPOINTS.index(name) for name in POSE_KEYPOINTS
)
SHOULDERS = (COCO_KEYPOINTS.index("left_shoulder"), COCO_KEYPOINTS.index("right_shoulder"))
# A keypoint up to this share of the image outside it is rounding or a joint on the edge: it is
# moved onto the edge. Further out, it is a guess at a limb the photo does not show.
EDGE_TOLERANCE = 0.02
DECIMALS = 4
NOT_SEEN = [0.0, 0.0, 0.0]


def coco_to_openpose(
    points: np.ndarray, scores: np.ndarray, *, width: int, height: int, min_score: float
) -> list[list[float]]:
    """17 COCO keypoints (pixels, (17, 2)) and their scores → 18 OpenPose rows [x, y, confidence] in 0-1."""
    points = np.asarray(points, dtype=np.float64).reshape(len(COCO_KEYPOINTS), 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(len(COCO_KEYPOINTS))
    coco: list[list[float] | None] = []
    for (x, y), score in zip(points, scores, strict=True):
        nx, ny = x / width, y / height
        inside = all(-EDGE_TOLERANCE <= v <= 1 + EDGE_TOLERANCE for v in (nx, ny))
        if score >= min_score and score > 0 and inside:
            coco.append([min(max(float(nx), 0.0), 1.0), min(max(float(ny), 0.0), 1.0), min(float(score), 1.0)])
        else:
            coco.append(None)
    rows: list[list[float]] = []
    for index in COCO_INDEX:
        if index is None:
            left, right = (coco[i] for i in SHOULDERS)
            row = (
                [(left[0] + right[0]) / 2, (left[1] + right[1]) / 2, min(left[2], right[2])]
                if left is not None and right is not None
                else None
            )
        else:
            row = coco[index]
        rows.append(list(NOT_SEEN) if row is None else [round(v, DECIMALS) for v in row])
    return rows


def estimate_pose(
    estimator, image: Image.Image, person_box: Sequence[float], *, min_score: float = 0.3
) -> list[list[float]]:
    """The pose of the person in `person_box` (x0, y0, x1, y1 in `image`'s pixels), as OpenPose COCO-18 rows."""
    processor, model = estimator.processor, estimator.model
    image = image.convert("RGB")
    x0, y0, x1, y1 = (float(v) for v in person_box)
    boxes = [[[x0, y0, x1 - x0, y1 - y0]]]  # ViTPose takes COCO boxes: x, y, width, height
    inputs = processor(image, boxes=boxes, return_tensors="pt")
    parameter = next(model.parameters())
    pixel_values = inputs["pixel_values"].to(device=parameter.device, dtype=parameter.dtype)
    extra = {}
    if getattr(model.config.backbone_config, "num_experts", 1) > 1:
        # ViTPose++ (a mixture of experts over datasets): expert 0 is COCO's.
        extra["dataset_index"] = torch.zeros(1, dtype=torch.long, device=parameter.device)
    with torch.inference_mode():
        outputs = model(pixel_values=pixel_values, **extra)
    outputs.heatmaps = outputs.heatmaps.float()
    (pose,) = processor.post_process_pose_estimation(outputs, boxes=boxes)[0]
    return coco_to_openpose(
        pose["keypoints"].numpy(), pose["scores"].numpy(), width=image.width, height=image.height, min_score=min_score
    )
