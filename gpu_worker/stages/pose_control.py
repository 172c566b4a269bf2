"""Text-to-image held to a pose: SDXL + an OpenPose ControlNet, derived from the shared txt2img pipeline.

A plain `ControlNetModel` runs in `StableDiffusionXLControlNetPipeline`; a union ControlNet
(ControlNet++) in `StableDiffusionXLControlNetUnionPipeline`, told that the control image is an
OpenPose skeleton (control mode 0 in xinsir/controlnet-union-sdxl-1.0's numbering).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

from gpu_worker.controlnet_models import is_union
from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.diffusion import seeded_generator, step_callback

# ControlNet++ (xinsir/controlnet-union-sdxl-1.0, its README): 0 openpose, 1 depth, 2 hed/pidi/scribble/ted,
# 3 canny/lineart/anime_lineart/mlsd, 4 normal, 5 segment (the promax model keeps these indices).
OPENPOSE_MODE = 0


def posed_pipeline(base: Any, controlnet: Any) -> Any:
    """The ControlNet pipeline (plain or union, as `controlnet` is) derived from `base`, built once."""
    from diffusers import StableDiffusionXLControlNetPipeline, StableDiffusionXLControlNetUnionPipeline

    pipeline_class = (
        StableDiffusionXLControlNetUnionPipeline if is_union(controlnet) else StableDiffusionXLControlNetPipeline
    )
    return derived_pipeline(base, pipeline_class, controlnet=controlnet)


def txt2img_posed(
    base: Any,
    controlnet: Any,
    *,
    control_image: Image.Image,
    control_scale: float,
    prompt: str,
    negative_prompt: str,
    width: int,
    height: int,
    steps: int,
    guidance: float,
    seed: int,
    on_step: Callable[[int, int], None] | None = None,
) -> Image.Image:
    """A width x height picture whose figure follows `control_image` (an OpenPose skeleton) with
    `control_scale` (diffusers' controlnet_conditioning_scale; 0 turns the ControlNet's effect off)."""
    control_image = control_image.convert("RGB")
    common: dict[str, Any] = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "width": width,
        "height": height,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "controlnet_conditioning_scale": control_scale,
        "generator": seeded_generator(seed),
        "callback_on_step_end": step_callback(on_step),
        "output_type": "pil",
    }
    # The pipelines resize the control image to width x height themselves (no crop: the skeleton
    # should be drawn at the picture's aspect ratio by the caller).
    pipeline = posed_pipeline(base, controlnet)
    if is_union(controlnet):
        result = pipeline(control_image=[control_image], control_mode=[OPENPOSE_MODE], **common)
    else:
        result = pipeline(image=control_image, **common)
    return result.images[0]
