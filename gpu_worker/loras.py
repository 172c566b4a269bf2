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

With a compiled UNet (ONTOP_GPU_COMPILE_UNET) adapters are never added, deleted or (de)activated:
any of those changes the module graph torch.compile traced and costs a recompilation (and after 8
of them torch silently runs eager). Instead `hotswap_slots_prepare` puts two empty LoRA slots on the
UNet before it is compiled, one for the person and one for the style, both always active. A job's
LoRA is copied into its slot (as diffusers' `hotswap=True` does, padded to ONTOP_GPU_LORA_MAX_RANK), its
weight is written into the slot's scaling tensors, and "no LoRA" zeroes the slot's weights. The
LRU keeps the files' tensors (on the UNet's device, `max_adapters` of them) instead of adapters. A
LoRA that cannot be swapped in (text-encoder layers, layers outside the slot, a higher rank, DoRA)
is refused with the reason, before anything on the UNet changes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
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
PERSON_SLOT = "slot_person"
STYLE_SLOT = "slot_style"
HOTSWAP_SLOTS = (PERSON_SLOT, STYLE_SLOT)
# The layers each slot covers. Styles: every Linear of the UNet's transformer blocks, which is what
# diffusers' and kohya's SDXL LoRA trainers target. People: what our trainer targets
# (training/pivotal.py LORA_TARGET_MODULES). Each covered layer costs a rank-`target_rank` branch
# in every forward pass, empty or not, so the person slot covers no more than it needs.
STYLE_SLOT_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2")
PERSON_SLOT_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


class LoraUnavailable(WorkflowError):
    pass


class LoraMisfit(LoraUnavailable):
    """A compiled UNet's slot cannot hold this LoRA (its layers, rank or kind): the file is intact,
    it just does not fit (the LoRA check answers "no" with this reason)."""


class PersonalModelMismatch(WorkflowError):
    code = "model_mismatch"  # contract.portrait.PortraitError.MODEL_MISMATCH


class PersonalModelInvalid(WorkflowError):
    code = "model_invalid"  # contract.portrait.PortraitError.MODEL_INVALID


def hotswap_slots_prepare(pipeline, *, target_rank: int, fast_lora: Path | None = None) -> None:
    """Puts the fast LoRA (if any) and the two empty slots on the UNet, all active, with tensor
    scalings (which a swap fills in place): call it once, before the UNet is compiled. Pipelines
    sharing the UNet (from_pipe) share the slots."""
    from peft import LoraConfig
    from peft.utils.hotswap import prepare_model_for_compiled_hotswap

    from gpu_worker.stages.diffusion import QkvFusionRefused, is_compiled, qkv_fused

    unet = pipeline.unet
    present = _adapters_on(pipeline)
    if set(HOTSWAP_SLOTS) <= present:
        return
    if is_compiled(unet):
        raise RuntimeError("The LoRA slots must be put on the UNet before it is compiled.")
    if qkv_fused(unet):
        raise QkvFusionRefused("The UNet's QKV projections are fused: LoRA slots on to_q/to_k/to_v would do nothing.")
    if present - {FAST_ADAPTER}:
        raise RuntimeError(f"The UNet already has adapters {sorted(present)}; the slots must come first.")
    from gpu_worker.registry import fast_lora_fused

    if fast_lora is not None and FAST_ADAPTER not in present and not fast_lora_fused(pipeline):
        _fast_load(pipeline, fast_lora)
    for slot, targets in ((PERSON_SLOT, PERSON_SLOT_TARGETS), (STYLE_SLOT, STYLE_SLOT_TARGETS)):
        # peft starts lora_B at zero: an empty slot adds exactly nothing.
        unet.add_adapter(LoraConfig(r=target_rank, lora_alpha=target_rank, target_modules=list(targets)), slot)
    names = ([FAST_ADAPTER] if FAST_ADAPTER in _adapters_on(pipeline) else []) + list(HOTSWAP_SLOTS)
    pipeline.set_adapters(names, adapter_weights=[1.0] * len(names))
    # Scalings become tensors (a swap or a weight fills them in place). No padding: the slots have
    # the target rank already, and the fast LoRA keeps its own.
    prepare_model_for_compiled_hotswap(unet, target_rank=None)


def _adapters_on(pipeline) -> set[str]:
    return {name for adapters in pipeline.get_list_adapters().values() for name in adapters}


def _fast_load(pipeline, fast_lora: Path) -> None:
    if fast_lora.suffix != ".safetensors":
        raise LoraUnavailable("ONTOP_GPU_FAST_LORA must be a .safetensors file.")
    pipeline.load_lora_weights(str(fast_lora), adapter_name=FAST_ADAPTER)


@dataclass
class _Swap:
    """A loaded LoRA, ready to be copied into its slot (tensors on the UNet's device)."""

    copies: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (slot weight, LoRA weight)
    zeros: list[torch.Tensor] = field(default_factory=list)  # slot weights of layers the LoRA lacks
    scales: list[tuple[dict, float, float]] = field(default_factory=list)  # (layer's scaling dict, alpha, rank)


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
        from gpu_worker.registry import fast_lora_fused

        if fast_lora_fused(pipeline):
            fast_lora = None  # in the weights already: as an adapter too it would apply twice
        self.fast = fast_lora is not None
        self._recent: list[str] = []  # least recently used first
        # The loaded personal adapters' embeddings files (kept in memory with their adapter), and
        # whose rows are in the text encoders now (None: nobody's, or blanked).
        self._embeddings: dict[str, tuple[str, bytes]] = {}  # adapter name -> (sha256, file)
        self._embeddings_of: str | None = None
        self._tokens: tuple[str, ...] = ()
        self._rows_blank = True  # no personal rows written since the last blanking (or ever)
        # Hotswap mode: the slots are on the UNet (it is compiled). Loaded LoRAs are then kept as
        # tensors, and each slot holds one of them at a weight (None: empty).
        self.hotswap = set(HOTSWAP_SLOTS) <= self._on_pipeline()
        self._tensors: dict[str, _Swap] = {}  # loaded LoRA name -> how it goes into its slot
        self._slots: dict[str, tuple[str, float] | None] = dict.fromkeys(HOTSWAP_SLOTS)
        self._slot_scalings: dict[str, list[tuple[dict, float, float]]] = {}  # slot -> (scaling dict, alpha, r)
        self._slot_modules: dict[str, list] = {}
        if fast_lora is not None and FAST_ADAPTER not in self._on_pipeline():
            if self.hotswap:
                raise LoraUnavailable("With a compiled UNet the fast LoRA must be loaded before compiling.")
            _fast_load(pipeline, fast_lora)

    def _on_pipeline(self) -> set[str]:
        return _adapters_on(self.pipeline)

    @property
    def loaded(self) -> set[str]:
        """Style and personal LoRAs loaded: the pipeline itself is the record of what is loaded (in
        hotswap mode, the tensors kept for the slots)."""
        if self.hotswap:
            return set(self._tensors)
        return self._on_pipeline() - {FAST_ADAPTER}

    def activate(self, spec: LoraSpec | None, personal: PersonalModelSpec | None = None, base_model: str = "") -> None:
        """Makes exactly the job's adapters active: the fast LoRA (when configured), the person's
        (with their token embeddings) and the style's. `base_model` is the pipeline's identity,
        which a personal model must have been trained on."""
        from gpu_worker.stages.diffusion import qkv_fused

        if qkv_fused(self.pipeline.unet):
            raise LoraUnavailable("The UNet's QKV projections are fused, which would silently drop every LoRA.")
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
                self._load(name, str(path))
            self._touch(name)
            names.append(name)
            weights.append(spec.weight)
        if self.hotswap:
            person = personal_adapter_name(personal.lora) if personal is not None else None
            self._slot_fill(PERSON_SLOT, person, personal.lora.weight if personal is not None else 0.0)
            self._slot_fill(STYLE_SLOT, adapter_name(spec) if spec is not None else None, spec.weight if spec else 0.0)
            return
        if not names:
            if self.pipeline.get_list_adapters():
                self.pipeline.disable_lora()
            return
        self.pipeline.enable_lora()
        self.pipeline.set_adapters(names, adapter_weights=weights)

    def _load(self, name: str, source: str | dict, *, slot: str = STYLE_SLOT) -> None:
        if self.hotswap:
            self._tensors[name] = self._swappable(source, slot)
        else:
            self.pipeline.load_lora_weights(source, adapter_name=name)

    def _swappable(self, source: str | dict, slot: str) -> _Swap:
        """A LoRA file read as diffusers reads it (state dict in peft's format, its LoraConfig),
        checked to fit `slot` as peft's hotswap checks it, and planned (`_swap_plan`). Checked
        here, before the UNet is touched: a hotswap that fails inside diffusers deletes the slot
        itself (its clean-up after a failed load), and the compiled graph with it."""
        from diffusers.utils import convert_unet_state_dict_to_peft
        from diffusers.utils.peft_utils import _create_lora_config
        from peft.tuners.lora import LoraLayer
        from peft.utils.hotswap import check_hotswap_configs_compatible

        unet = self.pipeline.unet
        state_dict, alphas, metadata = self.pipeline.lora_state_dict(
            source, unet_config=unet.config, return_lora_metadata=True
        )
        others = sorted({key.split(".", 1)[0] for key in state_dict if not key.startswith("unet.")})
        if others:
            raise LoraMisfit(
                f"This LoRA has {' and '.join(others)} layers; a worker with a compiled UNet swaps UNet layers "
                "only (serve it from a worker with ONTOP_GPU_COMPILE_UNET=false)."
            )
        layers = {key.removeprefix("unet."): value for key, value in state_dict.items()}
        if not layers:
            raise LoraMisfit("This LoRA has no UNet layers.")
        if "lora_A" not in next(iter(layers)):
            layers = convert_unet_state_dict_to_peft(layers)
        capacity = unet.peft_config[slot].r
        outside: list[str] = []
        for key, value in layers.items():
            module_name, _, kind = key.rpartition(".lora_")
            if kind not in ("A.weight", "B.weight"):
                raise LoraMisfit(f"A compiled UNet cannot swap in this LoRA's {key!r} (only plain LoRA layers).")
            try:
                module = unet.get_submodule(module_name)
            except AttributeError:
                module = None
            if not isinstance(module, LoraLayer) or slot not in module.lora_A:
                outside.append(module_name)
            elif kind == "A.weight" and value.shape[0] > capacity:
                raise LoraMisfit(
                    f"This LoRA has rank {value.shape[0]}; the compiled UNet's slots hold up to "
                    f"{capacity} (ONTOP_GPU_LORA_MAX_RANK)."
                )
        if outside:
            more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
            raise LoraMisfit(
                f"This LoRA has layers the compiled UNet's {slot} does not cover: {', '.join(outside[:3])}{more}."
            )
        if metadata is not None:
            metadata = {k.removeprefix("unet."): v for k, v in metadata.items() if k.startswith("unet.")}
        unet_alphas = (
            {k.removeprefix("unet."): v for k, v in alphas.items() if k.startswith("unet.")} if alphas else None
        )
        ranks = {f"^{key}": value.shape[1] for key, value in layers.items() if "lora_B" in key and value.ndim > 1}
        config = _create_lora_config(
            layers, unet_alphas, metadata, ranks, model_state_dict=unet.state_dict(), adapter_name=slot
        )
        try:
            check_hotswap_configs_compatible(unet.peft_config[slot], config)
        except ValueError as exc:
            raise LoraMisfit(f"A compiled UNet cannot swap in this LoRA: {exc}.") from None
        return self._swap_plan(layers, config, slot)

    def _swap_plan(self, layers: dict, config, slot: str) -> _Swap:
        """What a swap into `slot` does, resolved once per file: the same copies and scalings as
        peft's hotswap_adapter_from_state_dict (which diffusers' `hotswap=True` calls), without its
        per-switch overhead (two walks of the UNet's state dict and a device sync per layer for its
        scaling check), which alone would eat the 50 ms a switch may take."""
        from operator import attrgetter

        from peft.utils.other import get_pattern_key

        unet = self.pipeline.unet
        parameter = next(unet.parameters())
        swap = _Swap()
        covered: set[int] = set()
        scaled: set[str] = set()
        for key, value in layers.items():
            module_name, _, kind = key.rpartition(".lora_")
            slot_key = f"{module_name}.lora_{kind.removesuffix('.weight')}.{slot}.weight"
            destination = attrgetter(slot_key)(unet)
            swap.copies.append((destination, value.to(parameter.device, parameter.dtype)))
            covered.add(id(destination))
            if module_name not in scaled:
                scaled.add(module_name)
                # As peft picks a layer's rank and alpha when it creates the layer (eager loading).
                rank = config.rank_pattern.get(get_pattern_key(config.rank_pattern.keys(), module_name), config.r)
                alpha = config.alpha_pattern.get(
                    get_pattern_key(config.alpha_pattern.keys(), module_name), config.lora_alpha
                )
                swap.scales.append((unet.get_submodule(module_name).scaling, alpha, rank))
        for module in self._slot_layers(slot):
            for weight in (module.lora_A[slot].weight, module.lora_B[slot].weight):
                if id(weight) not in covered:
                    swap.zeros.append(weight)
        return swap

    def _slot_fill(self, slot: str, name: str | None, weight: float) -> None:
        """Puts LoRA `name` (loaded) into `slot` at `weight`, or empties it: in place, so the
        compiled graph stays valid."""
        if name is None:
            if self._slots[slot] is not None:
                self._slot_empty(slot)
            return
        held = self._slots[slot]
        if held == (name, weight):
            return
        if held is None or held[0] != name:
            swap = self._tensors[name]
            self._slots[slot] = ("", 0.0)  # unknown content until the swap has succeeded
            with torch.no_grad():
                for destination, source in swap.copies:
                    if destination.shape == source.shape:
                        destination.copy_(source)
                    else:  # a lower rank than the slot's: the rest of the slot is zeros
                        destination.zero_()
                        destination[tuple(slice(0, n) for n in source.shape)].copy_(source)
                for destination in swap.zeros:  # layers this LoRA does not have
                    destination.zero_()
            self._slot_scalings[slot] = swap.scales
        for scaling, alpha, rank in self._slot_scalings[slot]:
            scaling[slot].fill_(weight * alpha / rank)  # peft's set_scale, into the traced tensor
        self._slots[slot] = (name, weight)

    def _slot_empty(self, slot: str) -> None:
        """Zeroes the slot's weights: the branch then adds exactly 0 to every layer."""
        with torch.no_grad():
            for module in self._slot_layers(slot):
                module.lora_A[slot].weight.zero_()
                module.lora_B[slot].weight.zero_()
        self._slots[slot] = None

    def _slot_layers(self, slot: str) -> list:
        """The UNet's layers with this slot; they never change once it is compiled (so, cached)."""
        from peft.tuners.lora import LoraLayer

        if slot not in self._slot_modules:
            unet = self.pipeline.unet
            self._slot_modules[slot] = [m for m in unet.modules() if isinstance(m, LoraLayer) and slot in m.lora_A]
        return self._slot_modules[slot]

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
                self._load(name, load_safetensors(lora), slot=PERSON_SLOT)
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
            if self.hotswap:
                # A slot holding it keeps its copy until its next job fills it: only the source goes.
                self._tensors.pop(evicted)
            else:
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
