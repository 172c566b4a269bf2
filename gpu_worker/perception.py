"""Perception (detections + masks) cached per upload, so "new variation" and "try another style"
skip straight to planning and painting. Stored in the shared storage, so any worker can reuse it.

The key covers everything that changes the answer: the photo's bytes, the working size, the
models and the thresholds. It lives under the photo's own prefix, deleted with the photo.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import numpy as np

from gpu_worker.contract import photo_cache_prefix
from gpu_worker.stages.types import Detection
from gpu_worker.storage import Storage, StorageMissing

CACHE_VERSION = 2  # bump when detection or segmentation post-processing changes


@dataclass
class Perception:
    detections: list[Detection]
    masks: list[np.ndarray]  # one bool mask per detection, working-image size


def cache_key(
    *, input_key: str, image_bytes: bytes, work_size: tuple[int, int], models: dict[str, str], thresholds: dict
) -> str:
    """Under the photo's own prefix (`photo_cache_prefix`), which the web tier deletes with the photo."""
    digest = hashlib.sha256()
    digest.update(image_bytes)
    digest.update(json.dumps([CACHE_VERSION, list(work_size), models, thresholds], sort_keys=True).encode())
    return f"{photo_cache_prefix(input_key)}{digest.hexdigest()}.npz"


def load(storage: Storage, key: str) -> Perception | None:
    try:
        raw = storage.read(key)
    except StorageMissing:
        return None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            detections = [Detection.from_dict(d) for d in json.loads(str(data["detections"]))]
            shape = tuple(int(v) for v in data["shape"])
            packed = data["masks"]
            masks = [np.unpackbits(row)[: shape[0] * shape[1]].reshape(shape).astype(bool) for row in packed]
    except (ValueError, KeyError, OSError):
        return None  # a damaged cache entry is recomputed, never trusted
    if len(masks) != len(detections):
        return None
    return Perception(detections=detections, masks=masks)


def save(storage: Storage, key: str, perception: Perception, shape: tuple[int, int]) -> None:
    packed = np.stack([np.packbits(m.reshape(-1)) for m in perception.masks]) if perception.masks else np.zeros((0, 0))
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        detections=np.array(json.dumps([d.to_dict() for d in perception.detections])),
        shape=np.array(shape),
        masks=packed.astype(np.uint8),
    )
    storage.write(key, buffer.getvalue(), "application/octet-stream")
