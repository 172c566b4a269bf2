"""Style and personal LoRAs: fetched from storage, verified by content hash, loaded once,
switched per job, and bounded.

The base pipeline is never reloaded: each LoRA becomes a named adapter (by its SHA-256), and a
job activates its adapters at their weights, or none. At most `max_adapters` stay loaded per
pipeline; the least recently used one is deleted first, so memory does not grow with every style
or person ever seen. safetensors only — a pickle never loads.

A personal model is a LoRA plus token embeddings for "<s0><s1>". Every personal model uses the
same tokens, so the embeddings are not cached: the active job's rows are written into the text
encoders at activation (two small rows per encoder), and a job without a personal model gets them
zeroed. Another person's LoRA may stay loaded for the next pack, but it is never active: only the
job's own adapters are in `set_adapters`, so nobody's face leaks into another person's picture.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors.torch import load as load_safetensors

from gpu_worker.contract import LoraSpec
from gpu_worker.errors import WorkflowError
from gpu_worker.storage import Storage, StorageMissing
from gpu_worker.training.adapter_files import (
    AdapterFileError,
    BaseModelMismatch,
    personal_embeddings_blank,
    personal_embeddings_write,
    personal_files_check,
)

if TYPE_CHECKING:
    from gpu_worker.contract.portrait import PersonalModelSpec

logger = logging.getLogger(__name__)

FAST_ADAPTER = "fast"


class LoraUnavailable(WorkflowError):
    pass


class PersonalModelMismatch(WorkflowError):
    code = "model_mismatch"  # contract.portrait.PortraitError.MODEL_MISMATCH


class PersonalModelInvalid(WorkflowError):
    code = "model_invalid"  # contract.portrait.PortraitError.MODEL_INVALID


def adapter_name(spec: LoraSpec) -> str:
    return f"style_{spec.sha256[:16]}"


def personal_adapter_name(lora: LoraSpec) -> str:
    return f"person_{lora.sha256[:16]}"


class LoraManager:
    """Owns which adapters are loaded and active on one pipeline: the job's style and personal model,
    plus the fast LoRA."""

    def __init__(
        self, pipeline, storage: Storage, cache_dir: Path, fast_lora: Path | None = None, max_adapters: int = 4
    ) -> None:
        self.pipeline = pipeline
        self.storage = storage
        self.cache_dir = cache_dir
        self.max_adapters = max_adapters
        self.fast = fast_lora is not None
        self._recent: list[str] = []  # least recently used first
        # The loaded personal adapters' embeddings files (kept in memory with their adapter), and
        # whose rows are in the text encoders now (None: nobody's, or blanked).
        self._embeddings: dict[str, tuple[str, bytes]] = {}  # adapter name -> (sha256, file)
        self._embeddings_of: str | None = None
        self._tokens: tuple[str, ...] = ()
        self._rows_blank = True  # no personal rows written since the last blanking (or ever)
        if fast_lora is not None and FAST_ADAPTER not in self._on_pipeline():
            if fast_lora.suffix != ".safetensors":
                raise LoraUnavailable("ONTOP_GPU_FAST_LORA must be a .safetensors file.")
            pipeline.load_lora_weights(str(fast_lora), adapter_name=FAST_ADAPTER)

    def _on_pipeline(self) -> set[str]:
        return {name for adapters in self.pipeline.get_list_adapters().values() for name in adapters}

    @property
    def loaded(self) -> set[str]:
        """Style and personal adapters on the pipeline: the pipeline itself is the record of what is loaded."""
        return self._on_pipeline() - {FAST_ADAPTER}

    def activate(self, spec: LoraSpec | None, personal: PersonalModelSpec | None = None, base_model: str = "") -> None:
        """Makes exactly the job's adapters active: the fast LoRA (when configured), the person's
        (with their token embeddings) and the style's. `base_model` is the pipeline's identity,
        which a personal model must have been trained on."""
        names, weights = ([FAST_ADAPTER], [1.0]) if self.fast else ([], [])
        keep = {adapter_name(spec)} if spec is not None else set()
        if personal is not None:
            keep.add(personal_adapter_name(personal.lora))
            names.append(self._personal_activate(personal, base_model=base_model, keep=keep))
            weights.append(personal.lora.weight)
        else:
            self._personal_blank()
        if spec is not None:
            name = adapter_name(spec)
            if name not in self.loaded:
                path = self._fetch(spec)
                self._make_room(keep=keep)
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

    def _personal_activate(self, personal: PersonalModelSpec, *, base_model: str, keep: set[str]) -> str:
        name = personal_adapter_name(personal.lora)
        tokens = tuple(personal.tokens)
        if personal.base_model != base_model:
            # What the web recorded is checked before anything is read; the files' own metadata after.
            raise PersonalModelMismatch(
                f"This personal model was trained on {personal.base_model!r}; this worker paints with {base_model!r}."
            )
        cached = self._embeddings.get(name)
        if name not in self.loaded or cached is None or cached[0] != personal.embeddings_sha256:
            # Read into memory only, never into the disk cache: a person's model must go from
            # everywhere when they delete it, and a worker's disk is not something we clean.
            lora = self._read_checked(personal.lora.key, personal.lora.sha256, "The personal model's LoRA")
            embeddings = self._read_checked(
                personal.embeddings_key, personal.embeddings_sha256, "The personal model's embeddings"
            )
            try:
                file_tokens = personal_files_check(lora=lora, embeddings=embeddings, base_model=base_model)
            except BaseModelMismatch as exc:
                raise PersonalModelMismatch(str(exc)) from None
            except (AdapterFileError, ValueError) as exc:
                raise PersonalModelInvalid(str(exc)) from None
            if file_tokens != tokens:
                raise PersonalModelInvalid(f"The personal model's files are for tokens {file_tokens}, not {tokens}.")
            if name not in self.loaded:
                self._make_room(keep=keep)
                logger.info("loading personal LoRA %s", name)
                self.pipeline.load_lora_weights(load_safetensors(lora), adapter_name=name)
            self._embeddings[name] = (personal.embeddings_sha256, embeddings)
            self._embeddings_of = None  # (re)write the rows below
        if self._embeddings_of != name:
            # Two rows per encoder: switching people costs a copy of a few kilobytes. Until the write
            # has succeeded the rows are nobody's, so a failure makes the next job write them again.
            self._embeddings_of = None
            self._rows_blank = False
            self._tokens = tokens
            try:
                personal_embeddings_write(self.pipeline, embeddings=self._embeddings[name][1], tokens=tokens)
            except AdapterFileError as exc:
                raise PersonalModelInvalid(str(exc)) from None
            self._embeddings_of = name
        self._touch(name)
        return name

    def _personal_blank(self) -> None:
        if not self._rows_blank:
            personal_embeddings_blank(self.pipeline, self._tokens)
            self._embeddings_of = None
            self._rows_blank = True

    def _make_room(self, *, keep: set[str]) -> None:
        loaded = self.loaded
        # Adapters loaded before this manager existed count as the oldest.
        order = [n for n in sorted(loaded) if n not in self._recent] + [n for n in self._recent if n in loaded]
        order = [n for n in order if n not in keep]
        while order and len(self.loaded) >= self.max_adapters:
            evicted = order.pop(0)
            if evicted in keep:
                continue
            logger.info("evicting LoRA %s (least recently used)", evicted)
            self.pipeline.delete_adapters([evicted])
            self._embeddings.pop(evicted, None)
            if evicted == self._embeddings_of:
                self._personal_blank()
            if evicted in self._recent:
                self._recent.remove(evicted)

    def _read_checked(self, key: str, sha256: str, what: str) -> bytes:
        try:
            data = self.storage.read(key)
        except StorageMissing:
            raise PersonalModelInvalid(f"{what} is missing from storage.") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise PersonalModelInvalid(f"{what} does not match its recorded hash.")
        return data

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
