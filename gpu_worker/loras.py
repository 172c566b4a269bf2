"""Style (and soon personal) LoRAs: fetched from storage, verified by content hash, loaded once,
switched per job, and bounded.

The base pipeline is never reloaded: each LoRA becomes a named adapter (by its SHA-256), and a
job activates one adapter at its weight, or none. At most `max_adapters` stay loaded per
pipeline; the least recently used one is deleted first, so memory does not grow with every style
ever used. safetensors only — a pickle never loads.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from gpu_worker.contract import LoraSpec
from gpu_worker.errors import WorkflowError
from gpu_worker.storage import Storage

logger = logging.getLogger(__name__)

FAST_ADAPTER = "fast"


class LoraUnavailable(WorkflowError):
    pass


def adapter_name(spec: LoraSpec) -> str:
    return f"style_{spec.sha256[:16]}"


class LoraManager:
    """Owns which adapters are loaded and active on one pipeline: the job's style, plus the fast LoRA."""

    def __init__(
        self, pipeline, storage: Storage, cache_dir: Path, fast_lora: Path | None = None, max_adapters: int = 4
    ) -> None:
        self.pipeline = pipeline
        self.storage = storage
        self.cache_dir = cache_dir
        self.max_adapters = max_adapters
        self.fast = fast_lora is not None
        self._recent: list[str] = []  # least recently used first
        if fast_lora is not None and FAST_ADAPTER not in self._on_pipeline():
            if fast_lora.suffix != ".safetensors":
                raise LoraUnavailable("ONTOP_GPU_FAST_LORA must be a .safetensors file.")
            pipeline.load_lora_weights(str(fast_lora), adapter_name=FAST_ADAPTER)

    def _on_pipeline(self) -> set[str]:
        return {name for adapters in self.pipeline.get_list_adapters().values() for name in adapters}

    @property
    def loaded(self) -> set[str]:
        """Style adapters on the pipeline: the pipeline itself is the record of what is loaded."""
        return self._on_pipeline() - {FAST_ADAPTER}

    def activate(self, spec: LoraSpec | None) -> None:
        names, weights = ([FAST_ADAPTER], [1.0]) if self.fast else ([], [])
        if spec is not None:
            name = adapter_name(spec)
            if name not in self.loaded:
                path = self._fetch(spec)
                self._make_room(keep=name)
                logger.info("loading LoRA %s", name)
                self.pipeline.load_lora_weights(str(path), adapter_name=name)
            self._touch(name)
            names.append(name)
            weights.append(spec.weight)
        if not names:
            if self.pipeline.get_list_adapters():
                self.pipeline.disable_lora()
            return
        self.pipeline.enable_lora()
        self.pipeline.set_adapters(names, adapter_weights=weights)

    def _touch(self, name: str) -> None:
        if name in self._recent:
            self._recent.remove(name)
        self._recent.append(name)

    def _make_room(self, *, keep: str) -> None:
        loaded = self.loaded
        # Adapters loaded before this manager existed count as the oldest.
        order = [n for n in sorted(loaded) if n not in self._recent] + [n for n in self._recent if n in loaded]
        while len(order) >= self.max_adapters:
            evicted = order.pop(0)
            if evicted == keep:
                continue
            logger.info("evicting LoRA %s (least recently used)", evicted)
            self.pipeline.delete_adapters([evicted])
            if evicted in self._recent:
                self._recent.remove(evicted)

    def _fetch(self, spec: LoraSpec) -> Path:
        path = self.cache_dir / f"{spec.sha256}.safetensors"
        if path.exists():
            return path
        data = self.storage.read(spec.key)
        if hashlib.sha256(data).hexdigest() != spec.sha256:
            raise LoraUnavailable("The style's LoRA file does not match its recorded hash.")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.rename(path)
        return path
