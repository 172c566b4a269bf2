"""Style-switch figures for the benchmark (gpu_worker/bench.py calls `hotswap_measure`).

With a compiled UNet, a style switch copies the LoRA's tensors into a fixed slot (gpu_worker/loras.py);
the target is <= 50 ms on an H100 and no recompilation. Each switch is timed on its own (the device
synchronised before and after), interleaved between the styles (A, B, A, B, ...), after every style
has been loaded once: a warm worker's switch, not its first load of a file. With `paint`, a paint
follows every switch, so that dynamo's graph counter shows any recompilation the switches caused.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gpu_worker.contract import LoraSpec
from gpu_worker.loras import STYLE_SLOT_TARGETS, LoraManager
from gpu_worker.storage import Storage


@dataclass(frozen=True)
class HotswapFigures:
    hotswap: bool  # the manager swapped into slots (a compiled UNet); False: eager named adapters
    switches: int
    switch_ms_median: float
    switch_ms_min: float
    switch_ms_max: float
    graphs_before: int  # graphs dynamo had compiled in this process before the timed switches
    graphs_added: int  # graphs compiled during the switches and paints: 0 means no recompilation
    painted: bool  # whether a paint followed each switch (else graphs_added says nothing)


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hotswap_measure(
    pipeline,
    manager: LoraManager,
    styles: Sequence[LoraSpec],
    *,
    repeats: int = 10,
    paint: Callable[[], object] | None = None,
) -> HotswapFigures:
    """Times `repeats` rounds of switching through `styles` (at least two) on `pipeline`'s manager.

    `paint`, when given, runs after the first load of the styles (so that the UNet is compiled for
    its shapes before the count starts) and after every timed switch.
    """
    if len(styles) < 2:
        raise ValueError("switching needs at least two styles")
    device = pipeline.unet.device
    for spec in styles:  # loads (reads, checks, keeps) each file once, untimed
        manager.activate(spec)
    if paint is not None:
        paint()
    before = compiled_graphs()
    times: list[float] = []
    for _ in range(repeats):
        for spec in styles:
            _sync(device)
            started = time.perf_counter()
            manager.activate(spec)
            _sync(device)
            times.append((time.perf_counter() - started) * 1000)
            if paint is not None:
                paint()
    return HotswapFigures(
        hotswap=manager.hotswap,
        switches=len(times),
        switch_ms_median=statistics.median(times),
        switch_ms_min=min(times),
        switch_ms_max=max(times),
        graphs_before=before,
        graphs_added=compiled_graphs() - before,
        painted=paint is not None,
    )


def random_style_loras(
    pipeline, storage: Storage, *, count: int = 2, rank: int = 32, seed: int = 0, key_prefix: str = "bench/hotswap/"
) -> list[LoraSpec]:
    """`count` random LoRAs in diffusers' format for `pipeline`'s UNet (every Linear a style slot
    covers, at `rank`), written to `storage`: full-size styles for full-size random-weight models.
    Built from the layer shapes only; the UNet itself is not touched."""
    import hashlib

    from safetensors.torch import save

    layers = {}
    for name, module in pipeline.unet.named_modules():
        base = module.get_base_layer() if hasattr(module, "get_base_layer") else module
        if "lora_" in name or name.endswith("base_layer") or not isinstance(base, torch.nn.Linear):
            continue
        if any(name == target or name.endswith(f".{target}") for target in STYLE_SLOT_TARGETS):
            layers[name] = (base.in_features, base.out_features)
    specs = []
    for index in range(count):
        generator = torch.Generator().manual_seed(seed + index)
        tensors = {}
        for name, (inputs, outputs) in layers.items():
            tensors[f"unet.{name}.lora_A.weight"] = torch.randn(rank, inputs, generator=generator) * 0.01
            tensors[f"unet.{name}.lora_B.weight"] = torch.randn(outputs, rank, generator=generator) * 0.01
        data = save({k: v.to(pipeline.unet.dtype).contiguous() for k, v in tensors.items()})
        key = f"{key_prefix}style{index}.safetensors"
        storage.write(key, data, "application/octet-stream")
        specs.append(LoraSpec(key=key, sha256=hashlib.sha256(data).hexdigest(), weight=1.0))
    return specs
