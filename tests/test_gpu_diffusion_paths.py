"""The diffusion call's fast paths on CPU with the tiny preset (docs/benchmarks.md): exact step counts,
one batched VAE encode, the VAE in bf16 instead of an fp32 upcast, the fused few-step LoRA with
"trailing" timesteps, the tiny decoder and the CFG cut-off.

Counts come from forward hooks on the real modules (how many UNet calls, at which batch size, which
VAE parts ran and in which dtype): they are exact whatever the random weights paint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gpu_worker.config import DiffusionSettings, WorkerConfigError
from gpu_worker.registry import (
    diffusion_paths,
    fast_lora_fused,
    fast_paths_apply,
    trailing_timesteps,
)
from gpu_worker.runtime import runtime
from gpu_worker.stages.cfg_cutoff import guided_steps
from gpu_worker.stages.img2img import img2img, vae_encode
from gpu_worker.stages.inpaint import inpaint, inpaint_latents
from gpu_worker.stages.txt2img import txt2img
from gpu_worker.tiny_models import build_style_lora, build_tiny_vae

PROMPT = {"prompt": "a desk lamp", "negative_prompt": "blurry"}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def models():
    return runtime().models


@pytest.fixture(scope="module")
def shared_inpaint(models):
    pipeline = models.get("inpaint")
    runtime().loras(pipeline).activate(None)
    return pipeline


@pytest.fixture(scope="module")
def shared_txt2img(models):
    pipeline = models.get("txt2img")
    runtime().loras(pipeline).activate(None)
    return pipeline


def _fresh(models, role: str, dtype: torch.dtype = torch.float32):
    """A pipeline of its own (not the worker's shared one), for tests that change weights or dtypes."""
    from diffusers import StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionXLInpaintPipeline if role == "inpaint" else StableDiffusionXLPipeline
    pipeline = cls.from_pretrained(models.source(role), local_files_only=True, use_safetensors=True, dtype=dtype)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _photo() -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:64, 0:64]
    pixels = np.stack([xs * 4.0, ys * 4.0, np.full_like(xs, 128.0)], -1) + rng.normal(0, 8, (64, 64, 3))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), mask


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


@contextmanager
def _calls(module: torch.nn.Module) -> Iterator[list[tuple[int, torch.dtype, torch.Tensor | None]]]:
    """(batch size of the first input, the module's weight dtype at call time, the timestep if one
    was passed) of every forward call of `module` inside the block."""
    seen: list[tuple[int, torch.dtype, torch.Tensor | None]] = []

    def hook(mod, args, kwargs):
        timestep = args[1] if len(args) > 1 else kwargs.get("timestep")
        seen.append((args[0].shape[0], next(mod.parameters()).dtype, timestep))

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def _paint(pipeline, *, steps: int = 3, strength: float = 1.0, seed: int = 3, guidance: float = 5.0, **kwargs):
    image, mask = _photo()
    return inpaint(
        pipeline,
        image=image,
        mask=mask,
        steps=steps,
        guidance=guidance,
        strength=strength,
        seed=seed,
        **PROMPT,
        **kwargs,
    )


# ---- settings ----------------------------------------------------------------------------------


def test_fast_path_settings_default_to_safe_values_and_refuse_bad_ones(monkeypatch):
    for name in ("VAE_BF16", "TINY_VAE", "FAST_LORA_FUSE", "CFG_CUTOFF"):
        monkeypatch.delenv(f"ONTOP_GPU_{name}", raising=False)
    settings = DiffusionSettings.from_env("tiny")
    assert (settings.vae_bf16, settings.tiny_vae, settings.fast_lora_fuse, settings.cfg_cutoff) == (
        True,
        None,
        True,
        1.0,
    )
    monkeypatch.setenv("ONTOP_GPU_CFG_CUTOFF", "0.4")
    monkeypatch.setenv("ONTOP_GPU_VAE_BF16", "false")
    monkeypatch.setenv("ONTOP_GPU_TINY_VAE", "/models/taesdxl")
    with pytest.raises(WorkerConfigError, match="ONTOP_GPU_TINY_VAE decodes few-step results only"):
        DiffusionSettings.from_env("tiny")
    monkeypatch.setenv("ONTOP_GPU_FAST_LORA", "/models/lightning.safetensors")
    settings = DiffusionSettings.from_env("tiny")
    assert (settings.cfg_cutoff, settings.vae_bf16, settings.tiny_vae) == (0.4, False, "/models/taesdxl")
    monkeypatch.setenv("ONTOP_GPU_CFG_CUTOFF", "1.5")
    with pytest.raises(WorkerConfigError, match=r"ONTOP_GPU_CFG_CUTOFF must be between 0\.0 and 1\.0"):
        DiffusionSettings.from_env("tiny")


# ---- exact step counts -------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [1.0, 0.99, 0.5, 0.3])
def test_inpaint_runs_exactly_the_steps_asked_for_at_any_strength(shared_inpaint, strength):
    """diffusers alone runs int(steps * strength) steps: 29 of 30 at 0.99. Ours runs `steps`."""
    reported: list[tuple[int, int]] = []
    with _calls(shared_inpaint.unet) as unet_calls:
        out = _paint(shared_inpaint, steps=5, strength=strength, on_step=lambda s, t: reported.append((s, t)))
    assert out.size == (64, 64)
    assert reported == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert len(unet_calls) == 5


# ---- the VAE -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("strength", "encoded"), [(0.5, [2]), (1.0, [1])])
def test_inpaint_encodes_the_photo_and_the_masked_photo_in_one_vae_call(shared_inpaint, strength, encoded):
    """A 9-channel inpainting UNet below strength 1 needs both latents: one batch-2 encode. At
    strength 1 it starts from noise and needs only the masked photo. One decode either way."""
    with _calls(shared_inpaint.vae.encoder) as encodes, _calls(shared_inpaint.vae.decoder) as decodes:
        _paint(shared_inpaint, steps=2, strength=strength)
    assert [batch for batch, _, _ in encodes] == encoded
    assert [batch for batch, _, _ in decodes] == [1]


def test_batched_latents_equal_the_latents_encoded_one_by_one(shared_inpaint):
    image, mask = _photo()
    photo, masked = inpaint_latents(shared_inpaint, image, mask, strength=0.5)
    pixels = shared_inpaint.image_processor.preprocess(image, height=64, width=64)
    mask_pixels = shared_inpaint.mask_processor.preprocess(mask, height=64, width=64)
    alone_photo = vae_encode(shared_inpaint, pixels)
    alone_masked = vae_encode(shared_inpaint, pixels * (mask_pixels < 0.5))
    assert photo.shape == masked.shape == (1, 4, 32, 32)
    assert torch.allclose(photo, alone_photo, atol=1e-5)
    assert torch.allclose(masked, alone_masked, atol=1e-5)
    assert not torch.allclose(photo, masked, atol=1e-3), "the masked photo is another picture"


def test_a_four_channel_unet_inpaints_with_one_encode_of_the_photo(shared_txt2img):
    """SDXL base as an inpainter (4-channel UNet, blending): the masked photo's latents are never read."""
    from diffusers import StableDiffusionXLInpaintPipeline

    from gpu_worker.stages.derived import derived_pipeline

    pipeline = derived_pipeline(shared_txt2img, StableDiffusionXLInpaintPipeline)
    with _calls(pipeline.vae.encoder) as encodes, _calls(pipeline.unet) as unet_calls:
        out = _paint(pipeline, steps=3, strength=0.7)
    assert out.size == (64, 64)
    assert [batch for batch, _, _ in encodes] == [1]
    assert len(unet_calls) == 3


def test_vae_runs_in_bf16_instead_of_an_fp32_upcast(models):
    """An fp16 pipeline whose VAE needs upcasting (the stock SDXL VAE's `force_upcast`): diffusers
    upcasts it to fp32 for every encode and decode. With the fast path the stages use a bf16 copy,
    never cast, and paint the same picture within bf16's precision. The pipeline's own VAE stays
    fp16, so its dtype (which from_pipe copies) and its own decode are as loaded."""
    from diffusers import StableDiffusionXLInpaintPipeline

    pipeline = _fresh(models, "inpaint", torch.float16)
    assert pipeline.vae.config.force_upcast is True
    with _calls(pipeline.vae.encoder) as encodes, _calls(pipeline.vae.decoder) as decodes:
        upcast = _pixels(_paint(pipeline, steps=2, strength=0.5))
    assert [dtype for _, dtype, _ in encodes + decodes] == [torch.float32, torch.float32]
    assert pipeline.vae.dtype == torch.float16, "diffusers' rule: cast back after each use"

    settings = runtime().config.diffusion
    assert settings.vae_bf16 is True
    fast_paths_apply(pipeline, replace(settings, vae_bf16=False), device=CPU, dtype=torch.float16)
    assert diffusion_paths(pipeline).vae is None, "switched off"
    fast_paths_apply(pipeline, settings, device=CPU, dtype=torch.float16)
    vae = diffusion_paths(pipeline).vae
    assert (vae.dtype, vae.config.force_upcast, pipeline.vae.dtype, pipeline.dtype) == (
        torch.bfloat16,
        False,
        torch.float16,
        torch.float16,
    )
    with (
        _calls(vae.encoder) as encodes,
        _calls(vae.decoder) as decodes,
        _calls(pipeline.vae.encoder) as stock_encodes,
        _calls(pipeline.vae.decoder) as stock_decodes,
    ):
        bf16 = _pixels(_paint(pipeline, steps=2, strength=0.5))
    assert [dtype for _, dtype, _ in encodes + decodes] == [torch.bfloat16, torch.bfloat16]
    assert (stock_encodes, stock_decodes) == ([], [])
    assert vae.dtype == torch.bfloat16
    assert np.abs(upcast - bf16).mean() < 2.0
    # A pipeline derived as derived_pipeline does keeps fp16, and shares the bf16 copy (per UNet).
    derived = StableDiffusionXLInpaintPipeline.from_pipe(pipeline, dtype=pipeline.dtype)
    assert (derived.unet.dtype, derived.vae.dtype) == (torch.float16, torch.float16)
    with _calls(vae.decoder) as decodes:
        assert _paint(derived, steps=2, strength=0.5).size == (64, 64)
    assert [dtype for _, dtype, _ in decodes] == [torch.bfloat16]


# ---- few-step mode -----------------------------------------------------------------------------


def test_few_step_mode_fuses_the_fast_lora_and_paints_as_the_unfused_adapter(models, tmp_path):
    fast_file = build_style_lora(models.source("inpaint"), tmp_path / "fast.safetensors", seed=9)
    settings = replace(runtime().config.diffusion, fast_lora=str(fast_file), fast_steps=4, fast_guidance=1.0)
    steps, guidance = settings.steps_and_guidance(30, 7.0)
    assert (steps, guidance) == (4, 1.0)

    unfused = _fresh(models, "inpaint")
    unfused.load_lora_weights(str(fast_file), adapter_name="fast")
    unfused.set_adapters(["fast"])
    trailing_timesteps(unfused)
    expected = _pixels(_paint(unfused, steps=steps, strength=1.0, guidance=guidance))

    fused = fast_paths_apply(_fresh(models, "inpaint"), settings, device=CPU, dtype=torch.float32)
    assert fused.get_list_adapters() == {}, "no LoRA layers left: the fast LoRA is in the weights"
    assert fast_lora_fused(fused) is True
    assert diffusion_paths(fused).few_step is True
    assert fused.scheduler.config.timestep_spacing == "trailing"
    reported: list[tuple[int, int]] = []
    with _calls(fused.unet) as unet_calls:
        # The desk's strength (0.99) is overridden: distilled LoRAs start from pure noise.
        got = _pixels(
            _paint(fused, steps=steps, strength=0.99, guidance=guidance, on_step=lambda s, t: reported.append((s, t)))
        )
    assert reported == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [batch for batch, _, _ in unet_calls] == [1, 1, 1, 1], "guidance 1.0: no unconditional pass"
    assert [int(t) for _, _, t in unet_calls] == [999, 749, 499, 249], "trailing: the first step is pure noise"
    assert np.abs(expected - got).max() <= 2, "fused paints what the adapter painted"

    plain = _pixels(_paint(_fresh(models, "inpaint"), steps=steps, strength=1.0, guidance=guidance))
    assert np.abs(plain - got).mean() > 5, "the fast LoRA is really in the weights"
    # A style LoRA still works on top of the fused weights, and removing it gives the fused picture back.
    style_file = build_style_lora(models.source("inpaint"), tmp_path / "style.safetensors", seed=1)
    fused.load_lora_weights(str(style_file), adapter_name="style")
    fused.set_adapters(["style"])
    styled = _pixels(_paint(fused, steps=steps, guidance=guidance))
    fused.delete_adapters(["style"])
    assert np.abs(styled - got).mean() > 5
    assert np.array_equal(_pixels(_paint(fused, steps=steps, guidance=guidance)), got)


def test_few_step_mode_decodes_with_the_tiny_decoder_when_one_is_configured(models, tmp_path):
    build_tiny_vae(tmp_path / "tiny-vae")
    fast_file = build_style_lora(models.source("txt2img"), tmp_path / "fast.safetensors", seed=9)
    settings = replace(runtime().config.diffusion, fast_lora=str(fast_file), tiny_vae=str(tmp_path / "tiny-vae"))
    pipeline = fast_paths_apply(_fresh(models, "txt2img"), settings, device=CPU, dtype=torch.float32)
    tiny = diffusion_paths(pipeline).tiny_decoder
    assert type(tiny).__name__ == "AutoencoderTiny"
    with _calls(pipeline.vae.decoder) as full_decodes, _calls(tiny.decoder) as tiny_decodes:
        image = txt2img(pipeline, width=64, height=48, steps=2, guidance=1.0, seed=1, **PROMPT)
    assert image.size == (64, 48)
    assert (len(full_decodes), [batch for batch, _, _ in tiny_decodes]) == (0, [1])


# ---- CFG cut-off -------------------------------------------------------------------------------


@pytest.mark.parametrize(("share", "total", "guided"), [(0.5, 6, 3), (0.4, 30, 12), (0.01, 30, 1), (1.0, 30, 30)])
def test_guided_steps(share, total, guided):
    assert guided_steps(share, total) == guided
    assert guided_steps(0.0, total) == total, "0 is off, like 1"


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_cfg_cutoff_runs_the_late_inpaint_steps_at_batch_one(shared_inpaint, strength):
    """The mask and masked-image latents are sliced with the embeddings: no shape error, right size."""
    reported: list[int] = []
    with _calls(shared_inpaint.unet) as unet_calls:
        out = _paint(
            shared_inpaint, steps=6, strength=strength, cfg_cutoff=0.5, on_step=lambda s, t: reported.append(s)
        )
    assert out.size == (64, 64)
    assert [batch for batch, _, _ in unet_calls] == [2, 2, 2, 1, 1, 1]
    assert reported == [1, 2, 3, 4, 5, 6]
    with _calls(shared_inpaint.unet) as unet_calls:
        _paint(shared_inpaint, steps=4, strength=strength, cfg_cutoff=1.0)
    assert [batch for batch, _, _ in unet_calls] == [2, 2, 2, 2], "1.0: guidance on every step"


def test_cfg_cutoff_on_a_four_channel_inpaint_keeps_the_latents_at_batch_one(shared_txt2img):
    """The blending path (4-channel UNet) mixes the mask into the latents after every step: an
    unsliced batch-2 mask would turn them into batch 2."""
    from diffusers import StableDiffusionXLInpaintPipeline

    from gpu_worker.stages.derived import derived_pipeline

    pipeline = derived_pipeline(shared_txt2img, StableDiffusionXLInpaintPipeline)
    with _calls(pipeline.unet) as unet_calls:
        out = _paint(pipeline, steps=4, strength=0.8, cfg_cutoff=0.25)
    assert out.size == (64, 64)
    assert [batch for batch, _, _ in unet_calls] == [2, 1, 1, 1]


def test_cfg_cutoff_on_txt2img_and_img2img(shared_txt2img):
    with _calls(shared_txt2img.unet) as unet_calls:
        image = txt2img(shared_txt2img, width=64, height=48, steps=4, guidance=5.0, seed=1, cfg_cutoff=0.5, **PROMPT)
    assert image.size == (64, 48)
    assert [batch for batch, _, _ in unet_calls] == [2, 2, 1, 1]
    photo, _ = _photo()
    with _calls(shared_txt2img.unet) as unet_calls:
        out = img2img(shared_txt2img, photo, strength=0.5, steps=3, guidance=5.0, seed=1, cfg_cutoff=0.34, **PROMPT)
    assert out.size == (64, 64)
    assert [batch for batch, _, _ in unet_calls] == [2, 1, 1]


# ---- on a GPU ----------------------------------------------------------------------------------


@pytest.mark.gpu
def test_registry_loads_an_fp16_pipeline_with_its_vae_in_bf16_on_cuda(tmp_path):
    from gpu_worker.config import WorkerConfig
    from gpu_worker.registry import ModelRegistry

    base = runtime().config
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=tmp_path,
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=Path(base.model_dir),
        device="cuda",
        dtype="float16",
        diffusion=base.diffusion,
    )
    pipeline = ModelRegistry(config).get("inpaint")
    vae = diffusion_paths(pipeline).vae
    assert (pipeline.unet.dtype, pipeline.vae.dtype, vae.dtype) == (torch.float16, torch.float16, torch.bfloat16)
    with _calls(vae.decoder) as decodes:
        assert _paint(pipeline, steps=2, strength=0.5).size == (64, 64)
    assert [dtype for _, dtype, _ in decodes] == [torch.bfloat16]
