"""Segment each detected item with SAM 2.1 (transformers' Sam2Model), prompted by its box.

SAM 2's preprocessing is a plain resize to the model's square input and ImageNet
normalisation; we do it here because transformers' SAM 2 image processor needs torchvision.
The image is embedded once and all boxes are decoded in one batch.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from gpu_worker.stages.types import Detection

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def segment(model, image: Image.Image, detections: list[Detection]) -> list[np.ndarray]:
    """One boolean mask (H x W of `image`) per detection, in the same order."""
    if not detections:
        return []
    size = model.config.vision_config.backbone_config.image_size
    side = size[0] if isinstance(size, list | tuple) else int(size)
    parameter = next(model.parameters())
    resized = np.asarray(image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    pixels = (resized - IMAGENET_MEAN) / IMAGENET_STD
    pixel_values = torch.from_numpy(pixels.transpose(2, 0, 1)).unsqueeze(0).to(parameter.device, parameter.dtype)
    sx, sy = side / image.width, side / image.height
    boxes = torch.tensor(
        [[[d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy] for d in detections]],
        device=parameter.device,
        dtype=parameter.dtype,
    )
    with torch.inference_mode():
        outputs = model(pixel_values=pixel_values, input_boxes=boxes, multimask_output=False)
    logits = outputs.pred_masks[0, :, 0:1].float()  # (boxes, 1, h, w) low-resolution logits
    masks = F.interpolate(logits, size=(image.height, image.width), mode="bilinear", align_corners=False) > 0
    return [_clip_to_box(m[0].cpu().numpy(), d) for m, d in zip(masks, detections, strict=True)]


def _clip_to_box(mask: np.ndarray, detection: Detection, margin: float = 0.05) -> np.ndarray:
    """An item's mask stays inside its prompt box (plus a margin): SAM sometimes spills onto the desk."""
    x0, y0, x1, y1 = detection.box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    height, width = mask.shape
    clipped = np.zeros_like(mask)
    ya, yb = max(0, int(y0 - my)), min(height, int(np.ceil(y1 + my)))
    xa, xb = max(0, int(x0 - mx)), min(width, int(np.ceil(x1 + mx)))
    clipped[ya:yb, xa:xb] = mask[ya:yb, xa:xb]
    return clipped
