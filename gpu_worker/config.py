"""GPU worker settings from the environment (prefix ONTOP_GPU_), failing loudly on bad values.

Standard library only, so `python -m gpu_worker` can report a bad setting before importing torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MODEL_ROLES = ("inpaint", "detector", "segmenter", "upscaler")
OPTIONAL_MODEL_ROLES = ("vae",)  # ONTOP_GPU_MODEL_VAE: a replacement VAE (e.g. fp16-safe) for the inpaint pipeline
PRESETS = ("tiny", "real")
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


def _float(name: str, default: float, minimum: float, maximum: float) -> float:
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


def _bool(name: str, default: bool) -> bool:
    raw = _get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise WorkerConfigError(f"ONTOP_GPU_{name} must be true or false; got {raw!r}.")


def _int(name: str, default: int, minimum: int = 0) -> int:
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


@dataclass(frozen=True)
class WorkflowSettings:
    """Knobs of the desk-makeover workflow. Defaults depend on the preset: tiny models run on CPU."""

    work_pixels: int  # SDXL works at ~1 MP; the image is bucketed to this area, sides multiples of 64
    box_threshold: float
    text_threshold: float
    desk_min_objects: int  # desk-object detections that make a photo "a desk" without a desk detection
    max_detections: int
    steps: int
    guidance: float
    strength: float
    upscale: int
    upscale_tile: int
    locate_threshold: float
    compile_unet: bool
    channels_last: bool
    # Few-step mode: a distilled "fast" LoRA (Lightning / Hyper-SD style) always active next to
    # the style LoRA, with its own step count and guidance. Off unless a file is configured.
    fast_lora: str | None
    fast_steps: int
    fast_guidance: float

    @classmethod
    def from_env(cls, preset: str) -> WorkflowSettings:
        tiny = preset == "tiny"
        upscale = _int("UPSCALE", 2, minimum=1)
        if upscale not in (1, 2, 4):
            raise WorkerConfigError(f"ONTOP_GPU_UPSCALE must be 1, 2 or 4; got {upscale}.")
        return cls(
            # Tiny: 192x128 is the smallest area whose 64-px buckets still tell 4:3 from a square.
            work_pixels=_int("WORK_PIXELS", 192 * 128 if tiny else 1024 * 1024, minimum=64 * 64),
            box_threshold=_float("BOX_THRESHOLD", 0.35, 0.0, 1.01),
            text_threshold=_float("TEXT_THRESHOLD", 0.25, 0.0, 1.01),
            desk_min_objects=_int("DESK_MIN_OBJECTS", 2, minimum=1),
            max_detections=_int("MAX_DETECTIONS", 20, minimum=1),
            steps=_int("STEPS", 4 if tiny else 30, minimum=1),
            guidance=_float("GUIDANCE", 7.0, 0.0, 30.0),
            strength=_float("STRENGTH", 0.99, 0.05, 1.0),
            upscale=upscale,
            upscale_tile=_int("UPSCALE_TILE", 64 if tiny else 512, minimum=16),
            locate_threshold=_float("LOCATE_THRESHOLD", 0.3, 0.0, 1.01),
            compile_unet=_bool("COMPILE_UNET", False),
            channels_last=_bool("CHANNELS_LAST", False),
            fast_lora=_get("FAST_LORA"),
            fast_steps=_int("FAST_STEPS", 6, minimum=1),
            fast_guidance=_float("FAST_GUIDANCE", 1.0, 0.0, 30.0),
        )


@dataclass(frozen=True)
class PlannerSettings:
    """The OpenAI planner is used when an API key is set; otherwise the local planner."""

    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    timeout_seconds: float
    max_retries: int

    @classmethod
    def from_env(cls) -> PlannerSettings:
        return cls(
            openai_api_key=_get("OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY") or None,
            openai_base_url=_get("OPENAI_BASE_URL"),
            openai_model=_get("OPENAI_MODEL", "gpt-4.1-mini") or "gpt-4.1-mini",
            timeout_seconds=_float("OPENAI_TIMEOUT", 30.0, 1.0, 600.0),
            max_retries=_int("OPENAI_MAX_RETRIES", 2, minimum=0),
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
    queues: tuple[str, ...] = ("gpu",)
    # Recycle the process after this many jobs (0 = never); a supervisor restarts it.
    max_jobs: int = 0
    # Recycle after a job when the process's resident memory passed this (0 = never).
    max_rss_mb: int = 0
    model_sources: dict[str, str] = field(default_factory=dict)
    workflow: WorkflowSettings | None = None
    planner: PlannerSettings | None = None

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
        sources = {
            role: value for role in MODEL_ROLES + OPTIONAL_MODEL_ROLES if (value := _get(f"MODEL_{role.upper()}"))
        }
        if preset == "real":
            missing = [f"ONTOP_GPU_MODEL_{r.upper()}" for r in MODEL_ROLES if r not in sources]
            if missing:
                raise WorkerConfigError(
                    f"ONTOP_GPU_MODEL_PRESET=real needs a local path or cached hub id in {', '.join(missing)}."
                )
        queues = tuple(q.strip() for q in (_get("QUEUES", "gpu") or "gpu").split(",") if q.strip())
        return cls(
            redis_url=redis_url,
            media_root=Path(media_root) if media_root else None,
            s3_bucket=s3_bucket,
            s3_endpoint_url=_get("S3_ENDPOINT_URL"),
            model_preset=preset,
            model_dir=Path(_get("MODEL_DIR", "var/models") or "var/models").resolve(),
            device=_choice("DEVICE", "auto", DEVICES),
            dtype=_choice("DTYPE", "auto", DTYPES),
            queues=queues,
            max_jobs=_int("MAX_JOBS", 0),
            max_rss_mb=_int("MAX_RSS_MB", 0),
            model_sources=sources,
            workflow=WorkflowSettings.from_env(preset),
            planner=PlannerSettings.from_env(),
        )
