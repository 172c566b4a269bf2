"""Upscale with a Real-ESRGAN (RRDBNet) model, in the model's own dtype, tile by tile when memory needs it.

On CUDA the whole image goes through in one call when it fits (fewest tiles, no overlap work);
when it does not, the tile side is halved until it does, and the side that ran out of memory is
remembered for the next job. On CPU the configured tile is used: memory is not the limit there, and
small tiles keep the working set in cache. Tiles carry some context that is cropped away after, so
there are no seams. Pixels reach the model on the device and come back as uint8: one small copy.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

logger = logging.getLogger(__name__)

TILE_CONTEXT = 16  # pixels of context around each tile, cropped away after: no seams
MIN_CUDA_TILE = 128  # below this the context overlap costs more than the tile itself

# id(model) -> the smallest tile side that ran out of GPU memory: later jobs start below it.
_out_of_memory_at: dict[int, int] = {}


def upscale(model, image: Image.Image, *, factor: int, tile: int) -> Image.Image:
    if factor == 1:
        return image
    result = image
    remaining = factor
    while remaining > 1:
        result = _run(model, result, tile)
        remaining //= model.scale
    if remaining < 1:  # a x4 model asked for x2: one pass, then bring it down
        target = (image.width * factor, image.height * factor)
        result = result.resize(target, Image.Resampling.LANCZOS)
    return result


def tile_side(model, height: int, width: int, tile: int) -> int:
    """The tile side for an image: the configured one on CPU; on CUDA the whole image, unless a
    larger tile already ran out of memory for this model."""
    side = max(height, width)
    parameter = next(model.parameters())
    if parameter.device.type != "cuda":
        side = min(side, tile)
    elif (failed := _out_of_memory_at.get(id(model))) is not None and side >= failed:
        side = max(MIN_CUDA_TILE, failed // 2)
    return max(2, side - side % 2)  # x2 models fold 2x2 pixels into channels: even sides


def tiles(height: int, width: int, side: int) -> list[tuple[int, int, int, int]]:
    """(y0, x0, y1, x1) of each tile, row by row, covering the image once."""
    return [
        (y, x, min(y + side, height), min(x + side, width))
        for y in range(0, height, side)
        for x in range(0, width, side)
    ]


def _run(model, image: Image.Image, tile: int) -> Image.Image:
    parameter = next(model.parameters())
    rgb = torch.from_numpy(np.array(image.convert("RGB"))).to(parameter.device)
    pixels = rgb.permute(2, 0, 1)[None].float() / 255
    height, width = pixels.shape[-2:]
    # x2 models fold 2x2 pixels into channels: every crop needs even sides.
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        pixels = F.pad(pixels, (0, pad_w, 0, pad_h), mode="replicate")
    pixels = pixels.to(parameter.dtype)
    side = tile_side(model, *pixels.shape[-2:], tile)
    while True:
        try:
            out = _run_tiles(model, pixels, side)
            break
        except torch.OutOfMemoryError:
            if parameter.device.type != "cuda" or side <= MIN_CUDA_TILE:
                raise
            _out_of_memory_at[id(model)] = min(side, _out_of_memory_at.get(id(model), side))
            torch.cuda.empty_cache()
            side = max(MIN_CUDA_TILE, (side // 2) - (side // 2) % 2)
            logger.info("upscale: out of GPU memory, retrying with %d px tiles", side)
    scale = model.scale
    array = out[0, :, : height * scale, : width * scale].permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(array), "RGB")


def _run_tiles(model, pixels: torch.Tensor, side: int) -> torch.Tensor:
    """The upscaled image as uint8 (1, 3, H*s, W*s) on the model's device."""
    scale = model.scale
    _, _, height, width = pixels.shape
    out = torch.empty(1, 3, height * scale, width * scale, dtype=torch.uint8, device=pixels.device)
    with torch.inference_mode():
        for y, x, y1, x1 in tiles(height, width, side):
            ya, xa = max(0, y - TILE_CONTEXT), max(0, x - TILE_CONTEXT)
            yb, xb = min(height, y1 + TILE_CONTEXT), min(width, x1 + TILE_CONTEXT)
            result = model(pixels[:, :, ya:yb, xa:xb])
            oy, ox = (y - ya) * scale, (x - xa) * scale
            crop = result[:, :, oy : oy + (y1 - y) * scale, ox : ox + (x1 - x) * scale]
            # Scaled in fp32 (a half-precision product rounds before `round`); uint8 before leaving the device.
            out[:, :, y * scale : y1 * scale, x * scale : x1 * scale] = (
                crop.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)
            )
    return out
