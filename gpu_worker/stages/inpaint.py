"""Inpaint the free space with the SDXL inpainting pipeline, style LoRA applied in the same pass.

What runs, and why it differs from calling the pipeline with pictures:
- `steps` is the number of denoising steps that run (img2img.scheduled_steps): diffusers would run
  only `int(steps * strength)` of them (29 of 30 at strength 0.99).
- The VAE encodes the photo and the masked photo in ONE batched call here, and the pipeline gets
  their latents; diffusers would encode them one after the other (each with an fp32 upcast of the
  stock VAE and a cast back). Only what the UNet uses is encoded: a 9-channel inpainting UNet at
  strength 1 starts from pure noise and needs only the masked photo; a 4-channel UNet (SDXL base
  inpainting by blending) needs only the photo.
- Few-step mode (a distilled fast LoRA, registry.DiffusionPaths.few_step) always paints at strength
  1.0: Lightning / Hyper-SD are distilled from pure noise on "trailing" timesteps.
- The pipeline returns latents; img2img.latents_decode decodes them (the tiny decoder in few-step
  mode, when one is configured).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from gpu_worker.registry import diffusion_paths
from gpu_worker.stages.cfg_cutoff import StepEnd
from gpu_worker.stages.diffusion import seeded_generator
from gpu_worker.stages.img2img import latents_decode, scheduled_steps, vae_encode


def inpaint_latents(
    pipeline, image: Image.Image, mask: Image.Image, *, strength: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(photo latents, masked-photo latents) for the pipeline, from one VAE call. A latent the UNet
    will not read is not encoded: its place is taken by the other (same shape, never used)."""
    width, height = image.size
    pixels = pipeline.image_processor.preprocess(image, height=height, width=width).to(dtype=torch.float32)
    mask_pixels = pipeline.mask_processor.preprocess(mask, height=height, width=width)
    masked = pixels * (mask_pixels < 0.5)  # as diffusers masks it
    if pipeline.unet.config.in_channels == 4:
        photo = vae_encode(pipeline, pixels)
        return photo, photo
    if strength >= 1.0:
        masked_latents = vae_encode(pipeline, masked)
        return masked_latents, masked_latents
    both = vae_encode(pipeline, torch.cat([pixels, masked]))
    return both[:1], both[1:]


def painted_strength(pipeline, strength: float) -> float:
    """The strength `inpaint` really paints at on this pipeline: 1.0 in few-step mode."""
    return 1.0 if diffusion_paths(pipeline).few_step else strength


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
    cfg_cutoff: float | None = None,
) -> Image.Image:
    """Exactly `steps` denoising steps at `strength` (1.0 in few-step mode). `cfg_cutoff`: the share
    of steps with guidance (None: the worker's ONTOP_GPU_CFG_CUTOFF)."""
    paths = diffusion_paths(pipeline)
    strength = painted_strength(pipeline, strength)
    step_end = StepEnd(on_step, cfg_cutoff=paths.cfg_cutoff if cfg_cutoff is None else cfg_cutoff)
    image = image.convert("RGB")
    photo_latents, masked_latents = inpaint_latents(pipeline, image, mask, strength=strength)
    result = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt,
        image=photo_latents,
        mask_image=mask,
        masked_image_latents=masked_latents,
        width=image.width,
        height=image.height,
        num_inference_steps=scheduled_steps(steps, strength),
        guidance_scale=guidance,
        strength=strength,
        generator=seeded_generator(seed),
        callback_on_step_end=step_end,
        callback_on_step_end_tensor_inputs=step_end.tensor_inputs(pipeline),
        output_type="latent",
    )
    return latents_decode(pipeline, result.images, tiny=paths.few_step)
