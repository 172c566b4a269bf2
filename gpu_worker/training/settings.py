"""Knobs of the personal-model (pivotal tuning) trainer, from the environment (ONTOP_GPU_TRAIN_*).

Standard library only (torch is imported lazily, and only to ask whether CUDA is there), so a bad
value is reported before any model is loaded. The defaults follow diffusers' "advanced DreamBooth
LoRA SDXL" recipe (examples/advanced_diffusion_training/train_dreambooth_lora_sdxl_advanced.py,
called "the recipe" below) unless a comment says otherwise.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

from gpu_worker.config import WorkerConfigError, env_bool, env_float, env_int

MIXED_PRECISIONS = ("no", "fp16", "bf16")
TRAINING_PRESETS = ("tiny", "real", "full")  # "full" is an alias of "real": real SDXL weights


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def bitsandbytes_importable() -> bool:
    """bitsandbytes is optional (CUDA only); look for it without importing it."""
    return importlib.util.find_spec("bitsandbytes") is not None


@dataclass(frozen=True)
class TrainingSettings:
    # 1000 optimisation steps: the recipe's documented SDXL run (--max_train_steps=1000) and the
    # middle of EasyPhoto's 800-1500 range for 5-20 face photos.
    steps: int
    # LoRA rank 16: the recipe's default is 4, its examples use 8-32; 16 keeps a face's detail
    # while the file stays ~45 MB in float16 for SDXL's attention projections.
    rank: int
    # 1e-4: the recipe's --learning_rate (AdamW) for the UNet LoRA.
    unet_lr: float
    # 5e-6: the recipe's --text_encoder_lr, which is the learning rate of the new token embeddings
    # when --train_text_encoder_ti is on (its "text" parameter groups are the token embeddings).
    # replicate/cog-sdxl, where the recipe's TokenEmbeddingsHandler comes from, uses 3e-4
    # (ti_lr); raise ONTOP_GPU_TRAIN_EMBEDDING_LR towards that for stronger identity tokens.
    embedding_lr: float
    # 0.5: the recipe's --train_text_encoder_ti_frac; embeddings train for the first half, then
    # are frozen ("pivot") and only the LoRA keeps learning.
    embedding_train_fraction: float
    # 1: small personal datasets (5-20 photos) and ~24 GB GPUs; the recipe's examples use 1-4.
    batch_size: int
    # 1: the recipe's --gradient_accumulation_steps default.
    gradient_accumulation: int
    # 5.0: Min-SNR-gamma loss weighting (Hang et al. 2023, arXiv:2303.09556), the value the recipe
    # recommends for --snr_gamma. 0 turns the weighting off (plain MSE).
    min_snr_gamma: float
    # 1024: SDXL's native resolution (the recipe's --resolution default); tiny models use 128.
    resolution: int
    # "bf16" on CUDA (the recipe's examples; no loss scaling needed), "no" on CPU.
    mixed_precision: str
    # True on CUDA: the recipe's --gradient_checkpointing, needed to fit SDXL at 1024 px in 24 GB.
    gradient_checkpointing: bool
    # bitsandbytes AdamW8bit (the recipe's --use_8bit_adam) only when it is installed and on CUDA.
    use_8bit_adam: bool
    # Save a resumable checkpoint every 250 steps (the recipe's default is 500 over runs of ~1000;
    # a worker restart should lose at most a quarter of the job).
    checkpoint_every: int
    # Denoising steps of the preview picture painted at each checkpoint (a cheap look, not the
    # final quality; the diary's default is 30).
    preview_steps: int

    @classmethod
    def from_env(cls, preset: str, *, cuda: bool | None = None) -> TrainingSettings:
        """The preset's defaults, overridden by ONTOP_GPU_TRAIN_* variables.

        `cuda` says whether training runs on a CUDA device (None: ask torch); it only changes the
        defaults of mixed precision, gradient checkpointing and 8-bit Adam.
        """
        if preset not in TRAINING_PRESETS:
            raise WorkerConfigError(f"Unknown model preset {preset!r} (known: {', '.join(TRAINING_PRESETS)}).")
        tiny = preset == "tiny"
        on_cuda = _cuda_available() if cuda is None else cuda

        mixed_precision = os.environ.get("ONTOP_GPU_TRAIN_MIXED_PRECISION") or ("bf16" if on_cuda else "no")
        if mixed_precision not in MIXED_PRECISIONS:
            raise WorkerConfigError(
                f"ONTOP_GPU_TRAIN_MIXED_PRECISION must be one of {', '.join(MIXED_PRECISIONS)}; "
                f"got {mixed_precision!r}."
            )
        if mixed_precision != "no" and not on_cuda:
            raise WorkerConfigError(
                f"ONTOP_GPU_TRAIN_MIXED_PRECISION={mixed_precision} needs a CUDA device; use 'no' on CPU."
            )
        use_8bit_adam = env_bool("TRAIN_USE_8BIT_ADAM", on_cuda and bitsandbytes_importable())
        if use_8bit_adam and not (on_cuda and bitsandbytes_importable()):
            raise WorkerConfigError(
                "ONTOP_GPU_TRAIN_USE_8BIT_ADAM=true needs a CUDA device and bitsandbytes installed."
            )

        resolution = env_int("TRAIN_RESOLUTION", 128 if tiny else 1024, minimum=64)
        if resolution % 64:
            # SDXL buckets are multiples of 64 px; the UNet halves the latent twice or more.
            raise WorkerConfigError(f"ONTOP_GPU_TRAIN_RESOLUTION must be a multiple of 64; got {resolution}.")
        return cls(
            steps=env_int("TRAIN_STEPS", 40 if tiny else 1000, minimum=1),
            rank=env_int("TRAIN_RANK", 4 if tiny else 16, minimum=1),
            unet_lr=env_float("TRAIN_UNET_LR", 1e-4, 1e-7, 1.0),
            embedding_lr=env_float("TRAIN_EMBEDDING_LR", 5e-6, 0.0, 1.0),
            embedding_train_fraction=env_float("TRAIN_EMBEDDING_FRACTION", 0.5, 0.0, 1.0),
            batch_size=env_int("TRAIN_BATCH_SIZE", 1, minimum=1),
            gradient_accumulation=env_int("TRAIN_GRAD_ACCUMULATION", 1, minimum=1),
            min_snr_gamma=env_float("TRAIN_MIN_SNR_GAMMA", 5.0, 0.0, 1000.0),
            resolution=resolution,
            mixed_precision=mixed_precision,
            gradient_checkpointing=env_bool("TRAIN_GRADIENT_CHECKPOINTING", on_cuda),
            use_8bit_adam=use_8bit_adam,
            checkpoint_every=env_int("TRAIN_CHECKPOINT_EVERY", 10 if tiny else 250, minimum=1),
            preview_steps=env_int("TRAIN_PREVIEW_STEPS", 2 if tiny else 20, minimum=1),
        )
