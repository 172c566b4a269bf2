"""Locate each recommended item in the painted picture: a second Grounding DINO pass → hotspots."""

from __future__ import annotations

import numpy as np
from PIL import Image

from gpu_worker.stages.detect import clean_labels, phrase_scores
from gpu_worker.stages.types import Detection


def locate(
    detector, image: Image.Image, labels: list[str], repaint: np.ndarray, *, threshold: float
) -> dict[str, dict | None]:
    """label → {"x", "y", "box", "score"} in 0–1 coordinates, or None when the item is not found.

    Each label asks its own question ("where is the desk lamp?"): its best box above the
    threshold, where a box centred in the repainted area wins over a better-scored one outside
    it, because the new item is where we painted, not the person's own lamp.
    """
    unique = clean_labels(labels)
    hotspots: dict[str, dict | None] = dict.fromkeys(unique)
    if not unique:
        return hotspots
    scores, boxes = phrase_scores(detector, image, unique)
    width, height = image.size
    for index, label in enumerate(unique):
        candidates = [
            Detection(label=label, score=float(score), box=tuple(float(v) for v in box))
            for score, box in zip(scores[:, index].tolist(), boxes.tolist(), strict=True)
            if score >= threshold
        ]
        best = max(candidates, key=lambda d: (_in_mask(d, repaint), d.score), default=None)
        hotspots[label] = None if best is None else _hotspot(best, width, height)
    return hotspots


def _in_mask(detection: Detection, repaint: np.ndarray) -> bool:
    cx, cy = detection.center
    y = min(repaint.shape[0] - 1, max(0, int(cy)))
    x = min(repaint.shape[1] - 1, max(0, int(cx)))
    return bool(repaint[y, x])


def _hotspot(detection: Detection, width: int, height: int) -> dict:
    cx, cy = detection.center
    normalised = detection.normalised(width, height)
    return {
        "x": round(min(1.0, max(0.0, cx / width)), 4),
        "y": round(min(1.0, max(0.0, cy / height)), 4),
        "box": normalised["box"],
        "score": normalised["score"],
    }
