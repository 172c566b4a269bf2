"""Paint a picture from a prompt with the SDXL text-to-image pipeline, style LoRA applied in the same pass."""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from gpu_worker.registry import diffusion_paths
from gpu_worker.stages.cfg_cutoff import StepEnd
from gpu_worker.stages.diffusion import seeded_generator
from gpu_worker.stages.img2img import latents_decode


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
    cfg_cutoff: float | None = None,
) -> Image.Image:
    """Exactly `steps` denoising steps. `cfg_cutoff`: the share of steps with guidance (None: the
    worker's ONTOP_GPU_CFG_CUTOFF)."""
    paths = diffusion_paths(pipeline)
    step_end = StepEnd(on_step, cfg_cutoff=paths.cfg_cutoff if cfg_cutoff is None else cfg_cutoff)
    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=seeded_generator(seed),
        callback_on_step_end=step_end,
        callback_on_step_end_tensor_inputs=step_end.tensor_inputs(pipeline),
        output_type="latent",
    )
    # Few-step mode decodes with the tiny decoder when one is configured.
    return latents_decode(pipeline, result.images, tiny=paths.few_step)
