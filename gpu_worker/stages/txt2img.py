"""Paint a picture from a prompt with the SDXL text-to-image pipeline, style LoRA applied in the same pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image


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
    # A CPU generator gives the same noise for a seed on any device: "another picture" is a new seed.
    generator = torch.Generator(device="cpu").manual_seed(seed)

    def step_end(pipe, step: int, timestep, callback_kwargs):
        if on_step is not None:
            on_step(step + 1, pipe.num_timesteps)
        return callback_kwargs

    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generator,
        callback_on_step_end=step_end,
        output_type="pil",
    )
    return result.images[0]
