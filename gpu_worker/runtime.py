"""Process-wide state of a GPU worker: config, storage and the model registry, created once."""

from __future__ import annotations

import gc
import threading
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
    # The inpaint pipeline (and its active LoRA) is never shared by two jobs at once.
    inpaint_lock: threading.Lock = field(default_factory=threading.Lock)
    _loras: LoraManager | None = None

    def loras(self, pipeline) -> LoraManager:
        if self._loras is None or self._loras.pipeline is not pipeline:
            fast = self.config.workflow.fast_lora if self.config.workflow else None
            self._loras = LoraManager(
                pipeline, self.storage, self.config.model_dir / "loras", fast_lora=Path(fast) if fast else None
            )
        return self._loras

    def release_memory(self) -> None:
        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@cache
def runtime() -> Runtime:
    config = WorkerConfig.from_env()
    return Runtime(config=config, storage=storage_from_config(config), models=ModelRegistry(config))
