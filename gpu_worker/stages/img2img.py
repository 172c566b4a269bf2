"""The "filter" pass: repaint a picture with SDXL img2img (derived from the shared txt2img pipeline).

diffusers' img2img and inpaint pipelines schedule `num_inference_steps` over the whole noise range
and then run only the last `int(num_inference_steps * strength)` of them. Our `steps` is the number
of denoising steps that actually run (what the progress bar counts, and what the time depends on):
we ask diffusers for the smallest schedule that runs exactly that many (about ceil(steps / strength)).
The inpaint stage uses the same arithmetic, and the VAE helpers below are shared by all three SDXL
stages (img2img, inpaint, txt2img).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from gpu_worker.registry import diffusion_paths
from gpu_worker.stages.cfg_cutoff import StepEnd
from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.diffusion import seeded_generator


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


def _vae_upcast(vae) -> bool:
    """diffusers' own rule: an fp16 VAE that overflows (`force_upcast`) runs in fp32. Not the case
    for the registry's bf16 copy (registry.vae_bf16_copy) or an fp16-safe VAE (ONTOP_GPU_MODEL_VAE)."""
    return vae.dtype == torch.float16 and bool(vae.config.force_upcast)


def _vae(pipeline):
    """The VAE to encode and decode with: the registry's bf16 copy when it made one."""
    return diffusion_paths(pipeline).vae or pipeline.vae


@torch.inference_mode()
def vae_encode(pipeline, pixels: torch.Tensor) -> torch.Tensor:
    """Scaled latents of a batch of images in [-1, 1] (N, 3, H, W), in one VAE call, in the UNet's dtype.

    The latent distribution's mean, not a sample: SDXL's VAE has a tiny variance, and the mean
    needs no draw from the job's seeded generator (so the noise does not depend on how many images
    were encoded before it).
    """
    vae = _vae(pipeline)
    upcast = _vae_upcast(vae)
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        dist = vae.encode(pixels.to(device=vae.device, dtype=torch.float32 if upcast else vae.dtype)).latent_dist
        latents = dist.mode()
        mean = getattr(vae.config, "latents_mean", None)
        std = getattr(vae.config, "latents_std", None)
        if mean is not None and std is not None:  # the inverse of latents_decode's, as diffusers does
            shape = (1, latents.shape[1], 1, 1)
            mean_t = torch.tensor(mean, device=latents.device, dtype=latents.dtype).view(shape)
            std_t = torch.tensor(std, device=latents.device, dtype=latents.dtype).view(shape)
            latents = (latents - mean_t) * vae.config.scaling_factor / std_t
        else:
            latents = latents * vae.config.scaling_factor
    finally:
        if upcast:
            vae.to(dtype=torch.float16)
    return latents.to(dtype=pipeline.unet.dtype)


@torch.inference_mode()
def latents_decode(pipeline, latents: torch.Tensor, *, tiny: bool = False) -> Image.Image:
    """The first picture of a batch of scaled latents. `tiny`: through the configured tiny decoder
    (AutoencoderTiny, ONTOP_GPU_TINY_VAE) when there is one; it reads the scaled latents as they are."""
    decoder = diffusion_paths(pipeline).tiny_decoder if tiny else None
    if decoder is not None:
        pixels = decoder.decode(latents.to(dtype=decoder.dtype), return_dict=False)[0]
    else:
        vae = _vae(pipeline)
        upcast = _vae_upcast(vae)
        if upcast:
            vae.to(dtype=torch.float32)
        try:
            mean = getattr(vae.config, "latents_mean", None)
            std = getattr(vae.config, "latents_std", None)
            latents = latents.to(dtype=torch.float32 if upcast else vae.dtype)
            if mean is not None and std is not None:
                shape = (1, latents.shape[1], 1, 1)
                mean_t = torch.tensor(mean, device=latents.device, dtype=latents.dtype).view(shape)
                std_t = torch.tensor(std, device=latents.device, dtype=latents.dtype).view(shape)
                latents = latents * std_t / vae.config.scaling_factor + mean_t
            else:
                latents = latents / vae.config.scaling_factor
            pixels = vae.decode(latents, return_dict=False)[0]
        finally:
            if upcast:
                vae.to(dtype=torch.float16)
    # fp32 before denormalising: in bf16 the steps near white are 1/256 apart (banding).
    return pipeline.image_processor.postprocess(pixels[:1].float(), output_type="pil")[0]


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
    cfg_cutoff: float | None = None,
) -> Image.Image:
    """`image` repainted at `strength` in exactly `steps` denoising steps; the output has its size.
    `cfg_cutoff`: the share of steps with guidance (None: the worker's ONTOP_GPU_CFG_CUTOFF)."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    pipeline = derived_pipeline(base, StableDiffusionXLImg2ImgPipeline)
    paths = diffusion_paths(pipeline)
    step_end = StepEnd(on_step, cfg_cutoff=paths.cfg_cutoff if cfg_cutoff is None else cfg_cutoff)
    image = image.convert("RGB")
    # Encoded here (no fp32 upcast with the bf16 VAE); diffusers takes 4-channel input as latents.
    pixels = pipeline.image_processor.preprocess(image).to(dtype=torch.float32)
    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        image=vae_encode(pipeline, pixels),
        strength=strength,
        num_inference_steps=scheduled_steps(steps, strength),
        guidance_scale=guidance,
        # SDXL's micro-conditioning: the picture's own size, so it is not treated as a crop or an upscale.
        original_size=(image.height, image.width),
        target_size=(image.height, image.width),
        generator=seeded_generator(seed),
        callback_on_step_end=step_end,
        callback_on_step_end_tensor_inputs=step_end.tensor_inputs(pipeline),
        output_type="latent",
    )
    # Few-step mode decodes with the tiny decoder when one is configured (the full VAE decode is a
    # large share of a 4-step job).
    out = latents_decode(pipeline, result.images, tiny=paths.few_step)
    # diffusers rounds the size down to the VAE's multiple; the caller gets the size it gave.
    return out if out.size == image.size else out.resize(image.size, Image.Resampling.LANCZOS)
