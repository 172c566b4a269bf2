"""Inpaint the free space with the SDXL inpainting pipeline, style LoRA applied in the same pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image


def prepare_pipeline(pipeline, *, compile_unet: bool, channels_last: bool):
    """Optional speed-ups, off by default until measured (docs/benchmarks.md)."""
    if channels_last:
        pipeline.unet.to(memory_format=torch.channels_last)
    if compile_unet:
        pipeline.unet = torch.compile(pipeline.unet, mode="max-autotune-no-cudagraphs", fullgraph=False)
    return pipeline


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
    # A CPU generator gives the same noise for a seed on any device: "new variation" is a new seed.
    generator = torch.Generator(device="cpu").manual_seed(seed)

    def step_end(pipe, step: int, timestep, callback_kwargs):
        if on_step is not None:
            on_step(step + 1, pipe.num_timesteps)
        return callback_kwargs

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
        generator=generator,
        callback_on_step_end=step_end,
        output_type="pil",
    )
    return result.images[0]
