"""Process-wide state of a GPU worker: config, storage and the model registry, created once."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from functools import cache

from gpu_worker.config import WorkerConfig
from gpu_worker.registry import ModelRegistry
from gpu_worker.storage import Storage, storage_from_config


@dataclass
class Runtime:
    config: WorkerConfig
    storage: Storage
    models: ModelRegistry

    def release_memory(self) -> None:
        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@cache
def runtime() -> Runtime:
    config = WorkerConfig.from_env()
    return Runtime(config=config, storage=storage_from_config(config), models=ModelRegistry(config))
