"""Paint a picture from a prompt with the SDXL text-to-image pipeline, style LoRA applied in the same pass."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from gpu_worker.stages.diffusion import seeded_generator, step_callback


def txt2img(
    pipeline,
    *,
    prompt: str,
    negative_prompt: str,
    width: int,
    height: int,
    steps: int,
    guidance: float,
    seed: int,
    on_step: Callable[[int, int], None] | None = None,
) -> Image.Image:
    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=seeded_generator(seed),
        callback_on_step_end=step_callback(on_step),
        output_type="pil",
    )
    return result.images[0]
