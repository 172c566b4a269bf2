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
    return Runtime(config=config, storage=storage_from_config(config), models=ModelRegistry(config))
