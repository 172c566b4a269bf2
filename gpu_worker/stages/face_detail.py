"""ADetailer-style detailing: find faces (or hands), repaint each one at full resolution, feather it back in.

A face that fills a tenth of a 1024 px picture gets ~100 px of the UNet's attention and comes out
smeared. The detailer (after Bing-su/adetailer, A1111's "inpaint only masked") cuts a padded box
around each face, scales it up to the model's native size, inpaints it at a low strength (the face
keeps its identity and pose, gains detail), scales it back and pastes it in through the face mask,
blurred so no seam shows. Everything outside each crop box stays bit for bit as it was.

    detail = detect (Grounding DINO) + segment (SAM 2) → detail_regions (masks → repainted picture)

The pure steps (region_mask, crop_box, feather, paste) are separate functions so they can be
checked exactly; `detail_regions` takes masks directly, so tests need no lucky random detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.detect import detect
from gpu_worker.stages.diffusion import seeded_generator, step_callback
from gpu_worker.stages.img2img import scheduled_steps
from gpu_worker.stages.segment import segment

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive
# What Grounding DINO is asked for, per target.
TARGET_LABELS = {"face": "face", "hand": "hand"}
# Latent-friendly sizes: SDXL's VAE works in 8 px cells.
SIZE_MULTIPLE = 8
# A1111's mask blur (which ADetailer's mask_blur feeds): cv2.GaussianBlur with sigma = blur and a
# kernel of 2 * int(2.5 * blur + 0.5) + 1; scipy's `truncate` gives exactly that radius.
BLUR_TRUNCATE = 2.5


@dataclass(frozen=True)
class DetailSettings:
    """ADetailer's defaults (adetailer/args.py: ad_confidence 0.3, ad_dilate_erode 4, ad_mask_blur 4,
    ad_inpaint_only_masked_padding 32, ad_denoising_strength 0.4, ad_steps 28, ad_cfg_scale 7.0);
    work_size is SDXL's native 1024 where ADetailer's ad_inpaint_width/height (512) is SD 1.5's."""

    confidence: float = 0.3
    dilate_px: int = 4
    blur_px: int = 4
    pad_px: int = 32
    strength: float = 0.4
    steps: int = 28  # denoising steps actually run per region (not diffusers' schedule length)
    guidance: float = 7.0
    work_size: int = 1024  # the crop's longer side while it is repainted

    @classmethod
    def for_preset(cls, preset: str) -> DetailSettings:
        """`real`: ADetailer's defaults. `tiny`: the toy models' size and a couple of steps."""
        if preset == "tiny":
            return cls(steps=2, work_size=64)
        if preset == "real":
            return cls()
        raise ValueError(f"unknown model preset {preset!r}")


@dataclass
class DetailResult:
    image: Image.Image
    regions: int
    boxes: list[Box] = field(default_factory=list)  # the crop boxes repainted, in order


# ---- the pure steps ------------------------------------------------------------------------


def region_mask(mask: np.ndarray, dilate_px: int) -> np.ndarray:
    """The mask grown by `dilate_px` pixels in every direction (a (2d+1)² square), as bools.

    ADetailer dilates with a d x d kernel (cv2.dilate), which grows d/2 up-left and d/2 - 1
    down-right; ours is symmetric so a face is never shaved on one side."""
    mask = np.asarray(mask, dtype=bool)
    if dilate_px <= 0:
        return mask.copy()
    return ndimage.maximum_filter(mask, size=2 * dilate_px + 1, mode="constant", cval=False)


def feather_radius(blur_px: int) -> int:
    """How far the feathered alpha reaches beyond the mask (A1111's Gaussian kernel radius)."""
    return int(BLUR_TRUNCATE * blur_px + 0.5) if blur_px > 0 else 0


def feather(mask: np.ndarray, blur_px: int) -> np.ndarray:
    """The mask blurred into a float32 alpha in [0, 1] (Gaussian, sigma = blur_px, radius feather_radius).

    Zero further than feather_radius from the mask, exactly. Edges mirror (cv2's default), so a face
    at the picture's border does not fade out there."""
    alpha = np.asarray(mask, dtype=np.float32)
    if blur_px <= 0:
        return alpha.copy()
    blurred = ndimage.gaussian_filter(alpha, sigma=blur_px, truncate=BLUR_TRUNCATE, mode="mirror")
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)


def crop_box(mask: np.ndarray, pad_px: int, size: tuple[int, int]) -> Box:
    """The mask's bounding box padded by `pad_px` on every side and clamped to the image (width, height)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("an empty mask has no crop box")
    width, height = size
    return (
        max(0, int(xs.min()) - pad_px),
        max(0, int(ys.min()) - pad_px),
        min(width, int(xs.max()) + 1 + pad_px),
        min(height, int(ys.max()) + 1 + pad_px),
    )


def work_shape(box: Box, work_size: int) -> tuple[int, int]:
    """The crop's (width, height) while repainted: longer side `work_size`, aspect kept, multiples of 8."""
    width, height = box[2] - box[0], box[3] - box[1]
    scale = work_size / max(width, height)

    def side(length: int) -> int:
        return max(SIZE_MULTIPLE, round(length * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)

    return side(width), side(height)


def paste(original: Image.Image, painted_crop: Image.Image, box: Box, alpha: np.ndarray) -> Image.Image:
    """`painted_crop` blended over `original` inside `box` with `alpha` (the whole image's H x W alpha).

    Outside the box nothing is touched; where alpha is 0 the original pixel is kept exactly, where
    it is 1 the painted one."""
    x0, y0, x1, y1 = box
    if painted_crop.size != (x1 - x0, y1 - y0):
        raise ValueError(f"painted crop is {painted_crop.size}, the box {(x1 - x0, y1 - y0)}")
    if alpha.shape != (original.height, original.width):
        raise ValueError(f"alpha is {alpha.shape[::-1]}, the image {original.size}")
    pixels = np.array(original.convert("RGB"))
    under = pixels[y0:y1, x0:x1].astype(np.float32)
    over = np.asarray(painted_crop.convert("RGB"), dtype=np.float32)
    a = alpha[y0:y1, x0:x1, None].astype(np.float32)
    pixels[y0:y1, x0:x1] = np.clip(np.rint(under + (over - under) * a), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


# ---- repainting ------------------------------------------------------------------------------


def detail_regions(
    image: Image.Image,
    masks: list[np.ndarray],
    *,
    base: Any,
    prompt: str,
    negative_prompt: str,
    seed: int,
    settings: DetailSettings,
    on_step: Callable[[int, int], None] | None = None,
    max_regions: int = 4,
) -> DetailResult:
    """Repaint each masked region (H x W bool masks of `image`), the largest `max_regions` of them.

    Regions are painted one after another, each on the result of the last (as ADetailer does), each
    with its own seed (seed + index). on_step counts over all regions: (step, steps x regions)."""
    from diffusers import StableDiffusionXLInpaintPipeline

    current = image.convert("RGB")
    regions = [region_mask(m, settings.dilate_px) for m in masks]
    for region in regions:
        if region.shape != (current.height, current.width):
            raise ValueError(f"a mask is {region.shape[::-1]}, the image {current.size}")
    regions = sorted((r for r in regions if r.any()), key=lambda r: -int(r.sum()))[:max_regions]
    if not regions:
        return DetailResult(image=current, regions=0, boxes=[])
    # diffusers' inpaint pipeline runs a 4-channel (base) UNet too: it re-noises the original latents
    # outside the mask at every step, so the base model needs no inpainting checkpoint.
    pipeline = derived_pipeline(base, StableDiffusionXLInpaintPipeline)
    # The crop must hold the whole feathered edge, or the blend would be cut off at the box.
    pad = max(settings.pad_px, feather_radius(settings.blur_px))
    boxes: list[Box] = []
    for index, region in enumerate(regions):
        box = crop_box(region, pad, current.size)
        size = work_shape(box, settings.work_size)
        crop = current.crop(box)
        mask_crop = Image.fromarray(region[box[1] : box[3], box[0] : box[2]].astype(np.uint8) * 255)
        result = pipeline(
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=crop.resize(size, Image.Resampling.LANCZOS),
            mask_image=mask_crop.resize(size, Image.Resampling.NEAREST),
            width=size[0],
            height=size[1],
            strength=settings.strength,
            num_inference_steps=scheduled_steps(settings.steps, settings.strength),
            guidance_scale=settings.guidance,
            generator=seeded_generator(seed + index),
            callback_on_step_end=step_callback(_overall(on_step, index, settings.steps, len(regions))),
            output_type="pil",
        )
        painted = result.images[0].resize(crop.size, Image.Resampling.LANCZOS)
        current = paste(current, painted, box, feather(region, settings.blur_px))
        boxes.append(box)
    return DetailResult(image=current, regions=len(regions), boxes=boxes)


def _overall(
    on_step: Callable[[int, int], None] | None, index: int, steps: int, regions: int
) -> Callable[[int, int], None] | None:
    if on_step is None:
        return None
    return lambda step, total: on_step(index * steps + step, steps * regions)


def detail(
    image: Image.Image,
    *,
    base: Any,
    detector: Any,
    segmenter: Any,
    prompt: str,
    negative_prompt: str,
    seed: int,
    target: str = "face",
    settings: DetailSettings,
    on_step: Callable[[int, int], None] | None = None,
    max_regions: int = 4,
) -> DetailResult:
    """Detect `target` ("face" or "hand") at settings.confidence, mask each with SAM 2, repaint them.

    No detection: the picture comes back unchanged (regions 0)."""
    try:
        label = TARGET_LABELS[target]
    except KeyError:
        raise ValueError(f"target must be one of {sorted(TARGET_LABELS)}, not {target!r}") from None
    image = image.convert("RGB")
    detections = detect(detector, image, [label], box_threshold=settings.confidence, max_detections=max_regions)
    if not detections:
        return DetailResult(image=image, regions=0, boxes=[])
    masks = segment(segmenter, image, detections)
    # SAM can return nothing for a small or odd box; the detector's box is then the mask (ADetailer's
    # bbox models always work that way).
    masks = [mask if mask.any() else _box_mask(image.size, d.box) for mask, d in zip(masks, detections, strict=True)]
    return detail_regions(
        image,
        masks,
        base=base,
        prompt=prompt,
        negative_prompt=negative_prompt,
        seed=seed,
        settings=settings,
        on_step=on_step,
        max_regions=max_regions,
    )


def _box_mask(size: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    mask[y0:y1, x0:x1] = True
    return mask
