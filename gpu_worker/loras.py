"""Style LoRAs: fetched from storage, verified by content hash, loaded once, switched per job.

The base pipeline is never reloaded: each LoRA becomes a named adapter (by its SHA-256), and
a job activates one adapter at its weight, or none. safetensors only — a pickle never loads.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_worker.errors import WorkflowError
from gpu_worker.storage import Storage

logger = logging.getLogger(__name__)


class LoraUnavailable(WorkflowError):
    pass


@dataclass(frozen=True)
class LoraRef:
    key: str
    sha256: str
    weight: float

    @classmethod
    def from_params(cls, data: Any) -> LoraRef | None:
        if not data:
            return None
        try:
            ref = cls(key=str(data["key"]), sha256=str(data["sha256"]).lower(), weight=float(data.get("weight", 1.0)))
        except (KeyError, TypeError, ValueError):
            raise LoraUnavailable("The style's LoRA reference is malformed.") from None
        if not ref.key.endswith(".safetensors") or len(ref.sha256) != 64:
            raise LoraUnavailable("Style LoRAs must be .safetensors files with a SHA-256.")
        if not 0.0 <= ref.weight <= 2.0:
            raise LoraUnavailable("The style's LoRA weight must be between 0 and 2.")
        return ref

    @property
    def adapter_name(self) -> str:
        return f"style_{self.sha256[:16]}"


FAST_ADAPTER = "fast"


class LoraManager:
    """Owns which adapters are active on one pipeline: the job's style, plus the fast LoRA if any."""

    def __init__(self, pipeline, storage: Storage, cache_dir: Path, fast_lora: Path | None = None) -> None:
        self.pipeline = pipeline
        self.storage = storage
        self.cache_dir = cache_dir
        self.fast = fast_lora is not None
        if fast_lora is not None and FAST_ADAPTER not in {n for a in pipeline.get_list_adapters().values() for n in a}:
            if fast_lora.suffix != ".safetensors":
                raise LoraUnavailable("ONTOP_GPU_FAST_LORA must be a .safetensors file.")
            pipeline.load_lora_weights(str(fast_lora), adapter_name=FAST_ADAPTER)

    @property
    def loaded(self) -> set[str]:
        """Style adapters on the pipeline: the pipeline itself is the record of what is loaded."""
        names = {name for adapters in self.pipeline.get_list_adapters().values() for name in adapters}
        return names - {FAST_ADAPTER}

    def activate(self, ref: LoraRef | None) -> None:
        names, weights = ([FAST_ADAPTER], [1.0]) if self.fast else ([], [])
        if ref is not None:
            if ref.adapter_name not in self.loaded:
                path = self._fetch(ref)
                logger.info("loading style LoRA %s", ref.adapter_name)
                self.pipeline.load_lora_weights(str(path), adapter_name=ref.adapter_name)
            names.append(ref.adapter_name)
            weights.append(ref.weight)
        if not names:
            if self.pipeline.get_list_adapters():
                self.pipeline.disable_lora()
            return
        self.pipeline.enable_lora()
        self.pipeline.set_adapters(names, adapter_weights=weights)

    def _fetch(self, ref: LoraRef) -> Path:
        path = self.cache_dir / f"{ref.sha256}.safetensors"
        if path.exists():
            return path
        data = self.storage.read(ref.key)
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            raise LoraUnavailable("The style's LoRA file does not match its recorded hash.")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.rename(path)
        return path
