"""What every SDXL stage (inpaint, txt2img) shares: pipeline speed-ups, seeded noise, per-step progress."""

from __future__ import annotations

from collections.abc import Callable

import torch


def prepare_pipeline(pipeline, *, compile_unet: bool, channels_last: bool):
    """Optional speed-ups, off by default until measured (docs/benchmarks.md)."""
    if channels_last:
        pipeline.unet.to(memory_format=torch.channels_last)
    if compile_unet:
        pipeline.unet = torch.compile(pipeline.unet, mode="max-autotune-no-cudagraphs", fullgraph=False)
    return pipeline


def seeded_generator(seed: int) -> torch.Generator:
    # A CPU generator gives the same noise for a seed on any device: "another picture" is a new seed.
    return torch.Generator(device="cpu").manual_seed(seed)


def step_callback(on_step: Callable[[int, int], None] | None):
    """diffusers' callback_on_step_end, reporting (step, total) after each denoising step."""

    def step_end(pipe, step: int, timestep, callback_kwargs):
        if on_step is not None:
            on_step(step + 1, pipe.num_timesteps)
        return callback_kwargs

    return step_end
