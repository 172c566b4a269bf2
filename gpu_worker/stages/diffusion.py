"""What every SDXL stage (inpaint, txt2img) shares: pipeline speed-ups, seeded noise, per-step progress."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from gpu_worker.config import CompileSettings

logger = logging.getLogger(__name__)


class QkvFusionRefused(RuntimeError):
    """Fused QKV projections replace to_q/to_k/to_v by one to_qkv layer: LoRA layers on the three
    projections are then skipped without a word, so a style or a face would silently vanish."""


RECOMPILE_LIMIT = 64


def prepare_pipeline(
    pipeline,
    *,
    compile_unet: bool,
    channels_last: bool,
    compile_settings: CompileSettings | None = None,
    fast_lora: str | None = None,
):
    """Optional speed-ups, off by default until measured (docs/benchmarks.md).

    Compiling goes with LoRA hotswap (gpu_worker/loras.py, `hotswap_slots_prepare`): the fast LoRA
    and two empty slots are put on the UNet first, then the UNet is compiled in place
    (`unet.compile`, so it stays a UNet2DConditionModel that diffusers' LoRA methods see). Styles
    and personal models are then copied into the slots, never added: no recompilation per style.
    `compile_settings` and `fast_lora` default to the environment (what WorkerConfig reads).
    """
    if channels_last:
        pipeline.unet.to(memory_format=torch.channels_last)
    if compile_unet:
        from gpu_worker.config import DiffusionSettings
        from gpu_worker.loras import hotswap_slots_prepare

        if compile_settings is None or fast_lora is None:
            # Only the preset-independent fields are read (compile knobs, the fast LoRA).
            settings = DiffusionSettings.from_env("real")
            compile_settings = compile_settings or settings.compile
            fast_lora = fast_lora if fast_lora is not None else settings.fast_lora
        hotswap_slots_prepare(
            pipeline, target_rank=compile_settings.lora_max_rank, fast_lora=Path(fast_lora) if fast_lora else None
        )
        mode = None if compile_settings.mode == "default" else compile_settings.mode
        if compile_settings.backend != "inductor":
            mode = None  # modes are inductor options
        logger.info(
            "compiling the UNet (backend %s, mode %s) with LoRA slots of rank %d",
            compile_settings.backend,
            compile_settings.mode,
            compile_settings.lora_max_rank,
        )
        # Each work-size bucket, the batch of 1 after a CFG cut-off, and the 4- and 9-channel UNets
        # (one code object) compile graphs of their own: past torch's default of 8 it would run the
        # rest eagerly without a word. The graphs a worker builds are bounded by the buckets.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        pipeline.unet.compile(backend=compile_settings.backend, mode=mode, fullgraph=False)
    return pipeline


def is_compiled(unet) -> bool:
    return bool(getattr(unet, "_compiled_call_impl", None)) or hasattr(unet, "_orig_mod")


def qkv_fused(unet) -> bool:
    return any(getattr(module, "fused_projections", False) for module in unet.modules())


def fuse_qkv_projections(pipeline) -> None:
    """Fuses the UNet's QKV projections, refused while any LoRA is on it (see QkvFusionRefused).
    Nothing calls this by default; an option that wants fusion must come through here."""
    adapters = sorted({name for names in pipeline.get_list_adapters().values() for name in names})
    if adapters:
        raise QkvFusionRefused(f"Fused QKV would silently drop the LoRA adapters on this pipeline: {adapters}.")
    pipeline.unet.fuse_qkv_projections()


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
