"""Process-wide state of a GPU worker: config, storage, models and the workflows it serves, created once."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from gpu_worker.config import WorkerConfig
from gpu_worker.loras import LoraManager
from gpu_worker.registry import ModelRegistry
from gpu_worker.storage import Storage, storage_from_config


@dataclass
class Runtime:
    config: WorkerConfig
    storage: Storage
    models: ModelRegistry
    _loras: dict[int, LoraManager] = field(default_factory=dict)

    def loras(self, pipeline) -> LoraManager:
        """The adapter manager of a pipeline; pipelines sharing a UNet (from_pipe) share one."""
        key = id(getattr(pipeline, "unet", pipeline))
        manager = self._loras.get(key)
        if manager is None:
            settings = self.config.diffusion
            manager = LoraManager(
                pipeline,
                self.storage,
                self.config.model_dir / "loras",
                fast_lora=Path(settings.fast_lora) if settings.fast_lora else None,
                max_adapters=settings.max_adapters,
            )
            self._loras[key] = manager
        return manager

    def release_memory(self) -> None:
        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@cache
def runtime() -> Runtime:
    config = WorkerConfig.from_env()
    state = Runtime(config=config, storage=storage_from_config(config), models=ModelRegistry(config))
    enable_tf32(state.models.device)
    return state


def enable_tf32(device) -> bool:
    """Let fp32 matmuls and convolutions use TF32 tensor cores on CUDA (whatever stays fp32: the
    upcast VAE, a float32 perception model). Process-wide, so done once at worker start.

    The legacy setters on purpose: they also set the new per-backend flags, while setting only the
    new flags makes `torch.get_float32_matmul_precision()` raise, and inductor calls it.
    """
    import torch

    if torch.device(device).type != "cuda":
        return False
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    return True


def perception_dtype(setting: str, device):
    """ONTOP_GPU_PERCEPTION_DTYPE as a torch dtype: auto is bfloat16 on CUDA (fp32's range at half
    the memory traffic) and float32 on CPU, where half-precision kernels are slow."""
    import torch

    if setting == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    return getattr(torch, setting)
