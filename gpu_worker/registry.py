"""One place that turns a model role into a loaded model, once per process.

Sources: with the `tiny` preset, small random-weight models of the real classes are built
(once per machine) under `<model dir>/tiny/<role>` and loaded back with `from_pretrained`,
the same path real weights take. With `real`, each role comes from ONTOP_GPU_MODEL_<ROLE>:
a local path, or a Hugging Face repo id that must already be in the local cache.
Nothing here ever reaches a model hub.
"""

from __future__ import annotations

import os

# Set before diffusers/transformers/huggingface_hub are imported anywhere in this process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import fcntl
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gpu_worker.config import MODEL_ROLES, WorkerConfig

logger = logging.getLogger(__name__)


class ModelSourceError(RuntimeError):
    """A configured model cannot be found locally (we never download)."""


@dataclass
class Detector:
    processor: Any
    model: Any


@dataclass
class LoadedModel:
    role: str
    source: str
    model: Any


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, setting)


class ModelRegistry:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    # ---- sources -------------------------------------------------------------------------
    def source(self, role: str) -> Path:
        if role not in MODEL_ROLES:
            raise KeyError(f"unknown model role {role!r}")
        if self.config.model_preset == "tiny":
            return ensure_tiny_model(self.config.model_dir, role)
        return resolve_local_source(self.config.model_sources[role])

    # ---- loading -------------------------------------------------------------------------
    def get(self, role: str) -> Any:
        with self._lock:
            if role not in self._loaded:
                source = self.source(role)
                logger.info("loading %s from %s on %s (%s)", role, source, self.device, self.dtype)
                if role == "inpaint" and self.config.model_sources.get("vae"):
                    vae = resolve_local_source(self.config.model_sources["vae"])
                    model = _load_inpaint(source, self.device, self.dtype, vae_source=vae)
                else:
                    model = _LOADERS[role](source, self.device, self.dtype)
                if role == "inpaint" and self.config.workflow is not None:
                    from gpu_worker.stages.inpaint import prepare_pipeline

                    model = prepare_pipeline(
                        model,
                        compile_unet=self.config.workflow.compile_unet,
                        channels_last=self.config.workflow.channels_last,
                    )
                self._loaded[role] = LoadedModel(role=role, source=str(source), model=model)
            return self._loaded[role].model

    def identifier(self, role: str) -> str:
        """Names the model without loading it (cache keys, result metadata)."""
        if self.config.model_preset == "tiny":
            return f"tiny:{role}:seed{_tiny_seed()}"
        return f"real:{self.config.model_sources[role]}"

    def warm_up(self, roles: tuple[str, ...] = MODEL_ROLES) -> None:
        for role in roles:
            self.get(role)

    def identifiers(self) -> dict[str, str]:
        """What produced a result: recorded in every JobResult."""
        return {role: self.identifier(role) for role in self._loaded}


def _tiny_seed() -> int:
    from gpu_worker.tiny_models import TINY_SEED

    return TINY_SEED


def resolve_local_source(value: str) -> Path:
    path = Path(value).expanduser()
    if path.exists():
        return path.resolve()
    if value.count("/") == 1 and not value.startswith((".", "/")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(value, local_files_only=True))
        except LocalEntryNotFoundError:
            raise ModelSourceError(
                f"{value!r} is not in the local Hugging Face cache; download it on a machine with access "
                "and copy the cache (HF_HOME), or point to a local directory."
            ) from None
    raise ModelSourceError(f"model source {value!r} is neither a local path nor a cached hub id")


def ensure_tiny_model(model_dir: Path, role: str) -> Path:
    """Build the tiny model once; concurrent workers wait on a file lock instead of racing."""
    from gpu_worker import tiny_models

    target = model_dir / "tiny" / role
    marker = target / ".complete"
    if marker.exists():
        return target
    model_dir.joinpath("tiny").mkdir(parents=True, exist_ok=True)
    with open(model_dir / "tiny" / f".{role}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return target
        building = target.with_name(f".{role}.building")
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        logger.info("building tiny %s model in %s", role, target)
        tiny_models.BUILDERS[role](building)
        building.joinpath(".complete").touch()
        building.rename(target)
    return target


def _load_inpaint(source: Path, device: torch.device, dtype: torch.dtype, vae_source: Path | None = None):
    from diffusers import AutoencoderKL, StableDiffusionXLInpaintPipeline

    extra = {}
    if vae_source is not None:  # e.g. an fp16-safe SDXL VAE: the stock one overflows in fp16
        extra["vae"] = AutoencoderKL.from_pretrained(
            vae_source, dtype=dtype, use_safetensors=True, local_files_only=True
        )
    pipeline = StableDiffusionXLInpaintPipeline.from_pretrained(
        source, dtype=dtype, use_safetensors=True, local_files_only=True, **extra
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def _load_detector(source: Path, device: torch.device, dtype: torch.dtype) -> Detector:
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    processor = AutoProcessor.from_pretrained(source, local_files_only=True)
    model = GroundingDinoForObjectDetection.from_pretrained(source, local_files_only=True, use_safetensors=True)
    return Detector(processor=processor, model=model.to(device=device).eval())


def _load_segmenter(source: Path, device: torch.device, dtype: torch.dtype):
    from transformers import Sam2Model

    model = Sam2Model.from_pretrained(source, local_files_only=True, use_safetensors=True)
    return model.to(device=device).eval()


def _load_upscaler(source: Path, device: torch.device, dtype: torch.dtype):
    from gpu_worker.rrdbnet import RRDBNet

    path = source / "model.safetensors" if source.is_dir() else source
    return RRDBNet.from_file(path).to(device=device)


_LOADERS = {
    "inpaint": _load_inpaint,
    "detector": _load_detector,
    "segmenter": _load_segmenter,
    "upscaler": _load_upscaler,
}
