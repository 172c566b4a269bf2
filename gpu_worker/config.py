"""GPU worker settings from the environment (prefix ONTOP_GPU_), failing loudly on bad values.

Standard library only, so `python -m gpu_worker` can report a bad setting before importing torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PRESETS = ("tiny", "real")
# ONTOP_GPU_MODEL_<NAME>: the registry's model roles, plus a replacement VAE for the SDXL pipelines.
# Kept here (not imported from the registry) so a bad setting is reported before torch is imported.
MODEL_SOURCE_NAMES = (
    "inpaint",
    "txt2img",
    "trainer",
    "detector",
    "segmenter",
    "upscaler",
    "pose_control",
    "pose_estimator",
    "vae",
)
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "float16", "bfloat16")


class WorkerConfigError(Exception):
    pass


def _get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"ONTOP_GPU_{name}")
    return default if value is None or value == "" else value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _get(name, default)
    base = value.split(":")[0] if name == "DEVICE" else value
    if base not in choices:
        raise WorkerConfigError(f"ONTOP_GPU_{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def env_float(name: str, default: float, minimum: float, maximum: float) -> float:
    raw = _get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise WorkerConfigError(f"ONTOP_GPU_{name} must be a number; got {raw!r}.") from None
    if not minimum <= value <= maximum:
        raise WorkerConfigError(f"ONTOP_GPU_{name} must be between {minimum} and {maximum}; got {value}.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = _get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise WorkerConfigError(f"ONTOP_GPU_{name} must be true or false; got {raw!r}.")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = _get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WorkerConfigError(f"ONTOP_GPU_{name} must be an integer; got {raw!r}.") from None
    if value < minimum:
        raise WorkerConfigError(f"ONTOP_GPU_{name} must be at least {minimum}; got {value}.")
    return value


# torch.compile modes for the UNet ("default" is torch's own default); max-autotune uses CUDA graphs.
# torch.compile's modes: "reduce-overhead" is the default kernels with CUDA graphs; "max-autotune"
# autotunes and uses CUDA graphs, "max-autotune-no-cudagraphs" autotunes without them.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# inductor generates kernels; aot_eager and eager only trace (tests and debugging on CPU).
COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")


@dataclass(frozen=True)
class CompileSettings:
    """How ONTOP_GPU_COMPILE_UNET compiles the UNet, and the LoRA slots it is compiled with.

    A compiled UNet never loads, deletes or (de)activates adapters: style and personal LoRAs are
    hot-swapped into two fixed slots of rank `lora_max_rank` (gpu_worker/loras.py), so a style
    switch copies weights instead of recompiling. A LoRA of a higher rank cannot be swapped in.
    """

    mode: str = "max-autotune-no-cudagraphs"
    backend: str = "inductor"
    lora_max_rank: int = 64

    @classmethod
    def from_env(cls) -> CompileSettings:
        rank = env_int("LORA_MAX_RANK", 64, minimum=1)
        if rank > 256:
            # The web tier refuses uploads above rank 256 (generation/lora_validation.py).
            raise WorkerConfigError(f"ONTOP_GPU_LORA_MAX_RANK must be at most 256; got {rank}.")
        return cls(
            mode=_choice("COMPILE_MODE", "max-autotune-no-cudagraphs", COMPILE_MODES),
            backend=_choice("COMPILE_BACKEND", "inductor", COMPILE_BACKENDS),
            lora_max_rank=rank,
        )


@dataclass(frozen=True)
class DiffusionSettings:
    """Knobs every diffusion workflow shares. Defaults depend on the preset: tiny models run on CPU."""

    work_pixels: int  # SDXL works at ~1 MP; images are bucketed to this area, sides multiples of 64
    steps: int
    guidance: float
    upscale: int
    upscale_tile: int
    compile_unet: bool
    channels_last: bool
    # Few-step mode: a distilled "fast" LoRA (Lightning / Hyper-SD style) always active next to
    # the style LoRA, with its own step count and guidance. Off unless a file is configured.
    fast_lora: str | None
    fast_steps: int
    fast_guidance: float
    # At most this many style/personal LoRAs stay loaded per pipeline; the least recently used goes.
    max_adapters: int
    # ONTOP_GPU_COMPILE_MODE / _COMPILE_BACKEND / _LORA_MAX_RANK: used when compile_unet is on.
    compile: CompileSettings = field(default_factory=CompileSettings)
    # Diffusion fast paths (docs/benchmarks.md), each switchable. On CUDA, a VAE that diffusers would
    # upcast to fp32 for every encode/decode (the stock SDXL one) runs in bf16 instead: bf16 has
    # fp32's range, so it does not overflow. Off: diffusers' fp32 upcast.
    vae_bf16: bool = True
    # A TAESD-style AutoencoderTiny (local path): decodes previews, and the final picture in few-step mode.
    tiny_vae: str | None = None
    # Few-step mode: the fast LoRA is fused into the weights once at start-up (no LoRA branches in
    # every forward). Off: it stays a loaded adapter.
    fast_lora_fuse: bool = True
    # Share of the denoising steps that use classifier-free guidance; the rest run at batch 1.
    # 1.0 (or 0) = every step (off).
    cfg_cutoff: float = 1.0

    def steps_and_guidance(self, style_steps: int | None, style_guidance: float | None) -> tuple[int, float]:
        """Few-step mode decides both (the distilled LoRA needs them); otherwise the style, then the default."""
        if self.fast_lora:
            return self.fast_steps, self.fast_guidance
        return style_steps or self.steps, style_guidance or self.guidance

    @classmethod
    def from_env(cls, preset: str) -> DiffusionSettings:
        tiny = preset == "tiny"
        upscale = env_int("UPSCALE", 2, minimum=1)
        if upscale not in (1, 2, 4):
            raise WorkerConfigError(f"ONTOP_GPU_UPSCALE must be 1, 2 or 4; got {upscale}.")
        return cls(
            # Tiny: 192x128 is the smallest area whose 64-px buckets still tell 4:3 from a square.
            work_pixels=env_int("WORK_PIXELS", 192 * 128 if tiny else 1024 * 1024, minimum=64 * 64),
            steps=env_int("STEPS", 4 if tiny else 30, minimum=1),
            guidance=env_float("GUIDANCE", 7.0, 0.0, 30.0),
            upscale=upscale,
            upscale_tile=env_int("UPSCALE_TILE", 64 if tiny else 512, minimum=16),
            compile_unet=env_bool("COMPILE_UNET", False),
            channels_last=env_bool("CHANNELS_LAST", False),
            fast_lora=_get("FAST_LORA"),
            fast_steps=env_int("FAST_STEPS", 6, minimum=1),
            fast_guidance=env_float("FAST_GUIDANCE", 1.0, 0.0, 30.0),
            max_adapters=env_int("MAX_ADAPTERS", 4, minimum=1),
            compile=CompileSettings.from_env(),
            vae_bf16=env_bool("VAE_BF16", True),
            tiny_vae=_get("TINY_VAE"),
            fast_lora_fuse=env_bool("FAST_LORA_FUSE", True),
            cfg_cutoff=env_float("CFG_CUTOFF", 1.0, 0.0, 1.0),
        )

    def __post_init__(self) -> None:
        if self.tiny_vae and not self.fast_lora:
            # It decodes few-step results only (a full-step result deserves the full decoder):
            # loaded without few-step mode it would take memory and never run.
            raise WorkerConfigError("ONTOP_GPU_TINY_VAE decodes few-step results only: set ONTOP_GPU_FAST_LORA too.")


@dataclass(frozen=True)
class OpenAISettings:
    """OpenAI or any OpenAI-compatible server (e.g. a local Llama 3): the desk planner and the diary
    prompt writer use it when a key is set, and fall back to their local rules otherwise."""

    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    timeout_seconds: float
    max_retries: int

    @classmethod
    def from_env(cls) -> OpenAISettings:
        return cls(
            openai_api_key=_get("OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY") or None,
            openai_base_url=_get("OPENAI_BASE_URL"),
            openai_model=_get("OPENAI_MODEL", "gpt-4.1-mini") or "gpt-4.1-mini",
            timeout_seconds=env_float("OPENAI_TIMEOUT", 30.0, 1.0, 600.0),
            max_retries=env_int("OPENAI_MAX_RETRIES", 2, minimum=0),
        )


@dataclass(frozen=True)
class WorkerConfig:
    redis_url: str
    media_root: Path | None
    s3_bucket: str | None
    s3_endpoint_url: str | None
    model_preset: str
    model_dir: Path
    device: str
    dtype: str
    # ONTOP_GPU_PERCEPTION_DTYPE: the detector's and segmenter's dtype; auto = bfloat16 on CUDA
    # (fp32's range, so no overflow in models trained in fp32), float32 on CPU.
    perception_dtype: str = "auto"
    # ONTOP_GPU_S3_REGION: the bucket's region (the web tier's S3_REGION); unset: boto3's default.
    s3_region: str | None = None
    # The workflows this worker serves (ONTOP_GPU_WORKFLOWS); empty = every registered workflow.
    workflows: tuple[str, ...] = ()
    # The queues it listens on (ONTOP_GPU_QUEUES); empty = the queues of the workflows it serves.
    queues: tuple[str, ...] = ()
    # Recycle the process after this many jobs (0 = never); a supervisor restarts it.
    max_jobs: int = 0
    # Recycle after a job when the process's resident memory passed this (0 = never).
    max_rss_mb: int = 0
    # ONTOP_GPU_MODEL_<ROLE>: a local path or a cached hub id per model role (checked by the registry).
    model_sources: dict[str, str] = field(default_factory=dict)
    diffusion: DiffusionSettings = field(default_factory=lambda: DiffusionSettings.from_env("tiny"))
    openai: OpenAISettings = field(default_factory=lambda: OpenAISettings(None, None, "gpt-4.1-mini", 30.0, 0))

    @classmethod
    def from_env(cls) -> WorkerConfig:
        redis_url = _get("REDIS_URL") or os.environ.get("REDIS_URL")
        if not redis_url:
            raise WorkerConfigError("ONTOP_GPU_REDIS_URL (or REDIS_URL) must be set.")
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise WorkerConfigError(
                f"ONTOP_GPU_REDIS_URL must start with redis://, rediss:// or unix://; got {redis_url!r}."
            )
        s3_bucket = _get("S3_BUCKET")
        media_root = _get("MEDIA_ROOT")
        if not s3_bucket and not media_root:
            raise WorkerConfigError("Set ONTOP_GPU_MEDIA_ROOT (shared media directory) or ONTOP_GPU_S3_BUCKET.")
        preset = _choice("MODEL_PRESET", "tiny", PRESETS)
        prefix = "ONTOP_GPU_MODEL_"
        sources = {
            name.removeprefix(prefix).lower(): value
            for name, value in os.environ.items()
            if name.startswith(prefix) and name not in (f"{prefix}PRESET", f"{prefix}DIR") and value
        }
        unknown = sorted(set(sources) - set(MODEL_SOURCE_NAMES))
        if unknown:
            names = ", ".join(f"{prefix}{u.upper()}" for u in unknown)
            raise WorkerConfigError(f"{names}: no such model role (known: {', '.join(MODEL_SOURCE_NAMES)}).")
        return cls(
            redis_url=redis_url,
            media_root=Path(media_root) if media_root else None,
            s3_bucket=s3_bucket,
            s3_endpoint_url=_get("S3_ENDPOINT_URL"),
            s3_region=_get("S3_REGION"),
            model_preset=preset,
            model_dir=Path(_get("MODEL_DIR", "var/models") or "var/models").resolve(),
            device=_choice("DEVICE", "auto", DEVICES),
            dtype=_choice("DTYPE", "auto", DTYPES),
            perception_dtype=_choice("PERCEPTION_DTYPE", "auto", DTYPES),
            workflows=_names("WORKFLOWS"),
            queues=_names("QUEUES"),
            max_jobs=env_int("MAX_JOBS", 0),
            max_rss_mb=env_int("MAX_RSS_MB", 0),
            model_sources=sources,
            diffusion=DiffusionSettings.from_env(preset),
            openai=OpenAISettings.from_env(),
        )


def _names(name: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in (_get(name, "") or "").split(",") if v.strip()))
