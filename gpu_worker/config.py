"""GPU worker settings from the environment (prefix ONTOP_GPU_), failing loudly on bad values.

Standard library only, so `python -m gpu_worker` can report a bad setting before importing torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MODEL_ROLES = ("inpaint", "detector", "segmenter", "upscaler")
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
    model_sources: dict[str, str] = field(default_factory=dict)

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
        sources = {role: value for role in MODEL_ROLES if (value := _get(f"MODEL_{role.upper()}"))}
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
            model_sources=sources,
        )
