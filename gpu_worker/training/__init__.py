"""Training personal SDXL models (pivotal tuning: a UNet LoRA plus new token embeddings).

Names are imported lazily, so `gpu_worker.training.settings` can be read (and a bad
ONTOP_GPU_TRAIN_* value reported) without importing torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BaseModelMismatch": "gpu_worker.training.adapter_files",
    "file_metadata": "gpu_worker.training.adapter_files",
    "personal_model_load": "gpu_worker.training.adapter_files",
    "personal_model_unload": "gpu_worker.training.adapter_files",
    "PivotalTuner": "gpu_worker.training.pivotal",
    "TrainingExample": "gpu_worker.training.pivotal",
    "TrainingSettings": "gpu_worker.training.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
