"""Is this a desk? Decided from the detector's own detections, so no extra model is needed.

Rule (thresholds in config): the photo is a desk setup when Grounding DINO finds a "desk"
with score >= box_threshold, or at least `desk_min_objects` (default 2) typical desk items
(monitor, keyboard, laptop, ...) with score >= box_threshold. One mug on a kitchen table is
not a desk; a keyboard and a monitor are.
"""

from __future__ import annotations

from gpu_worker.stages.types import Detection
from gpu_worker.workflows.desk_makeover.errors import NotADesk
from gpu_worker.workflows.desk_makeover.labels import DESK_ITEMS, DESK_LABELS

NOT_A_DESK_MESSAGE = (
    "This doesn't look like a desk. Take a photo of your whole desk from the front, "
    "with the desk surface and the things on it in view."
)


def is_desk(detections: list[Detection], *, min_objects: int) -> bool:
    if any(d.label in DESK_LABELS for d in detections):
        return True
    return sum(1 for d in detections if d.label in DESK_ITEMS) >= min_objects


def check_desk(detections: list[Detection], *, min_objects: int) -> None:
    if not is_desk(detections, min_objects=min_objects):
        raise NotADesk(NOT_A_DESK_MESSAGE)
