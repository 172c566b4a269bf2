"""Load & normalise: upright RGB, resized to the SDXL-native bucket nearest the photo's aspect ratio.

SDXL is trained on ~1 MP images whose sides are multiples of 64, in many aspect ratios. We
pick the bucket with the closest aspect ratio (and an area near the target), never squash to
a square, and map the result back to the original framing at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from gpu_worker.images import decode_photo

MULTIPLE = 64


@dataclass(frozen=True)
class Framing:
    original_size: tuple[int, int]
    work_size: tuple[int, int]

    def to_dict(self) -> dict:
        return {"original_size": list(self.original_size), "work_size": list(self.work_size)}


def sdxl_bucket(width: int, height: int, target_pixels: int) -> tuple[int, int]:
    aspect = width / height
    best: tuple[float, tuple[int, int]] | None = None
    longest = MULTIPLE * max(1, int(math.sqrt(target_pixels * 4) // MULTIPLE))  # up to 4:1
    for w in range(MULTIPLE, longest + 1, MULTIPLE):
        h = max(MULTIPLE, round(target_pixels / w / MULTIPLE) * MULTIPLE)
        area_error = abs(math.log(w * h / target_pixels))
        if area_error > math.log(2):
            continue
        score = abs(math.log((w / h) / aspect)) + 0.25 * area_error
        if best is None or score < best[0]:
            best = (score, (w, h))
    assert best is not None
    return best[1]


def normalise(
    image: Image.Image, *, target_pixels: int, original_size: tuple[int, int] | None = None
) -> tuple[Image.Image, Framing]:
    """The work image and its framing. `original_size`: the photo's full size when `image` was
    decoded at a reduced scale; the bucket and the framing follow the photo, not the decode."""
    size = original_size or image.size
    work_size = sdxl_bucket(size[0], size[1], target_pixels)
    work = image.convert("RGB").resize(work_size, Image.Resampling.LANCZOS)
    return work, Framing(original_size=size, work_size=work_size)


def load_normalised(data: bytes, *, target_pixels: int, upscale: int) -> tuple[Image.Image, Framing]:
    """Decode an upload (`decode_photo`) and normalise it, decoding a JPEG far larger than the job
    needs at a reduced scale. The job needs the work size times the upscale factor: the result is
    the upscaled work image, so decoding at least that keeps the resize to the work size a real
    downscale (by the upscale factor or more) and the output exactly what a full decode gives
    in size and framing."""

    def needed(size: tuple[int, int]) -> tuple[int, int]:
        width, height = sdxl_bucket(size[0], size[1], target_pixels)
        return width * max(1, upscale), height * max(1, upscale)

    photo = decode_photo(data, needed=needed)
    return normalise(photo.image, target_pixels=target_pixels, original_size=photo.size)


def to_original_framing(image: Image.Image, framing: Framing) -> Image.Image:
    """Undo the bucket's small aspect change, keeping the (upscaled) resolution."""
    ow, oh = framing.original_size
    height = image.height
    width = max(1, round(height * ow / oh))
    if (width, height) == image.size:
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS)
