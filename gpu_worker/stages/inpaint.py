"""Inpaint the free space with the SDXL inpainting pipeline, style LoRA applied in the same pass."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from gpu_worker.stages.diffusion import seeded_generator, step_callback


def inpaint(
    pipeline,
    *,
    image: Image.Image,
    mask: Image.Image,
    prompt: str,
    negative_prompt: str,
    steps: int,
    guidance: float,
    strength: float,
    seed: int,
    on_step: Callable[[int, int], None] | None = None,
) -> Image.Image:
    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        image=image,
        mask_image=mask,
        width=image.width,
        height=image.height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        strength=strength,
        generator=seeded_generator(seed),
        callback_on_step_end=step_callback(on_step),
        output_type="pil",
    )
    return result.images[0]
