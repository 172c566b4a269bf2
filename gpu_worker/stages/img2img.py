"""The "filter" pass: repaint a picture with SDXL img2img (derived from the shared txt2img pipeline).

diffusers' img2img and inpaint pipelines schedule `num_inference_steps` over the whole noise range
and then run only the last `int(num_inference_steps * strength)` of them. Our `steps` is the number
of denoising steps that actually run (what the progress bar counts, and what the time depends on):
we ask diffusers for the smallest schedule that runs exactly that many (about ceil(steps / strength)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PIL import Image

from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.diffusion import seeded_generator, step_callback


def scheduled_steps(steps: int, strength: float) -> int:
    """The `num_inference_steps` for which diffusers runs exactly `steps` steps at `strength`."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], not {strength}")
    total = max(steps, math.ceil(steps / strength))
    # diffusers' own arithmetic (get_timesteps), so float rounding cannot make us one step short or long.
    while int(total * strength) < steps:
        total += 1
    while total > steps and int((total - 1) * strength) >= steps:
        total -= 1
    return total


def img2img(
    base: Any,
    image: Image.Image,
    *,
    prompt: str,
    negative_prompt: str,
    strength: float,
    steps: int,
    guidance: float,
    seed: int,
    on_step: Callable[[int, int], None] | None = None,
) -> Image.Image:
    """`image` repainted at `strength` in exactly `steps` denoising steps; the output has its size."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    pipeline = derived_pipeline(base, StableDiffusionXLImg2ImgPipeline)
    image = image.convert("RGB")
    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        image=image,
        strength=strength,
        num_inference_steps=scheduled_steps(steps, strength),
        guidance_scale=guidance,
        # SDXL's micro-conditioning: the picture's own size, so it is not treated as a crop or an upscale.
        original_size=(image.height, image.width),
        target_size=(image.height, image.width),
        generator=seeded_generator(seed),
        callback_on_step_end=step_callback(on_step),
        output_type="pil",
    )
    out = result.images[0]
    # diffusers rounds the size down to the VAE's multiple; the caller gets the size it gave.
    return out if out.size == image.size else out.resize(image.size, Image.Resampling.LANCZOS)
