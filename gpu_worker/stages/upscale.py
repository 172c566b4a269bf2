"""Upscale with a Real-ESRGAN (RRDBNet) model, tile by tile so memory stays bounded at any size."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

TILE_CONTEXT = 16  # pixels of context around each tile, cropped away after: no seams


def upscale(model, image: Image.Image, *, factor: int, tile: int) -> Image.Image:
    if factor == 1:
        return image
    result = image
    remaining = factor
    while remaining > 1:
        result = _run_tiled(model, result, tile)
        remaining //= model.scale
    if remaining < 1:  # a x4 model asked for x2: one pass, then bring it down
        target = (image.width * factor, image.height * factor)
        result = result.resize(target, Image.Resampling.LANCZOS)
    return result


def _run_tiled(model, image: Image.Image, tile: int) -> Image.Image:
    parameter = next(model.parameters())
    scale = model.scale
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    _, _, height, width = pixels.shape
    # x2 models fold 2x2 pixels into channels: every crop needs even sides.
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        pixels = F.pad(pixels, (0, pad_w, 0, pad_h), mode="replicate")
    _, _, ph, pw = pixels.shape
    tile = max(2, tile - tile % 2)
    out = torch.zeros(1, 3, ph * scale, pw * scale)
    with torch.inference_mode():
        for y in range(0, ph, tile):
            for x in range(0, pw, tile):
                y1, x1 = min(y + tile, ph), min(x + tile, pw)
                ya, xa = max(0, y - TILE_CONTEXT), max(0, x - TILE_CONTEXT)
                yb, xb = min(ph, y1 + TILE_CONTEXT), min(pw, x1 + TILE_CONTEXT)
                crop = pixels[:, :, ya:yb, xa:xb].to(parameter.device, parameter.dtype)
                result = model(crop).float().cpu()
                oy, ox = (y - ya) * scale, (x - xa) * scale
                out[:, :, y * scale : y1 * scale, x * scale : x1 * scale] = result[
                    :, :, oy : oy + (y1 - y) * scale, ox : ox + (x1 - x) * scale
                ]
    out = out[:, :, : height * scale, : width * scale].clamp(0, 1)
    array = (out[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(array, "RGB")
