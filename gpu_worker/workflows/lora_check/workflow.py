"""LoRA check: load a style LoRA into each style-painting pipeline, the way a job would, and see
whether all of it landed.

The load goes through the adapter manager (`ctx.adapters`), so the hash is checked, the file is
cached and the adapter is named exactly as a makeover or a diary picture would load it. diffusers
refuses layers that name no module of the base model, or have other shapes, but it loads a file
of which only some layers fit without a word: so each of the file's layers must also be found on
the pipeline afterwards. A LoRA that fits stays loaded (the style's first jobs start warm); one
that does not is taken off again, so it never lingers on a pipeline that serves people.
"""

from __future__ import annotations

import json
import re
import struct

from gpu_worker.contract.lora_check import CONTRACT, LoraCheckParams, LoraCheckResult, LoraCheckStage
from gpu_worker.errors import WorkflowError
from gpu_worker.loras import LoraMisfit, adapter_name
from gpu_worker.storage import StorageKeyError, StorageMissing
from gpu_worker.workflow import WorkflowContext, workflow

# The pipelines a style paints with: desk makeovers inpaint, the diary and portraits paint from text.
PIPELINE_ROLES = ("inpaint", "txt2img")
# Components that may carry LoRA layers (diffusers' SDXL LoRA format names them as key prefixes).
COMPONENTS = ("unet", "text_encoder", "text_encoder_2")
_DOWN = re.compile(r"^(?P<base>.+)\.(lora_A|lora_down|lora\.down)\.weight$")
MAX_REASON = 1200
MAX_NAMED = 3


class LoraDoesNotFit(Exception):
    """Raised inside the check only: the answer is "no", with the reason."""


@workflow(CONTRACT, models=PIPELINE_ROLES)
def run(ctx: WorkflowContext, params: LoraCheckParams) -> LoraCheckResult:
    ctx.progress.report(LoraCheckStage.LOADING, 5)
    with ctx.timed("read"):
        layers = file_layers(ctx.storage.read(params.lora.key))
    name = adapter_name(params.lora)
    checked: list[str] = []
    for index, role in enumerate(PIPELINE_ROLES):
        ctx.progress.report(LoraCheckStage.CHECKING, 10 + 80 * index / len(PIPELINE_ROLES))
        pipeline = ctx.models.get(role)
        with ctx.timed(role), ctx.models.exclusive(pipeline):
            try:
                if ctx.adapters.swaps_into_slots(pipeline):
                    # A compiled UNet: the swap itself checks every layer against the slot before
                    # anything is copied, and refuses with the reason (LoraUnavailable).
                    _swap_in(ctx, pipeline, params, role)
                    checked.append(role)
                    continue
                _load(ctx, pipeline, params, role)
                misfit = _misfit(role, layers, loaded_layers(pipeline, name))
                if misfit:
                    raise LoraDoesNotFit(misfit)
            except LoraDoesNotFit as exc:
                _unload(pipeline, name)
                ctx.progress.report(LoraCheckStage.DONE, 100)
                return LoraCheckResult(fits=False, reason=str(exc), pipelines=checked, layers=len(layers))
        checked.append(role)
    ctx.progress.report(LoraCheckStage.DONE, 100)
    return LoraCheckResult(fits=True, pipelines=checked, layers=len(layers))


def _load(ctx: WorkflowContext, pipeline, params: LoraCheckParams, role: str) -> None:
    try:
        ctx.adapters.activate(pipeline, params.lora)
    except (WorkflowError, StorageMissing, StorageKeyError):
        raise  # the file is missing or altered: the question is not answered, the job fails
    except Exception as exc:
        if _out_of_memory(exc):
            raise
        # What diffusers and peft say when layers name modules the model does not have, or have
        # other shapes ("size mismatch for ...: copying a param with shape ...").
        detail = " ".join(str(exc).split())
        raise LoraDoesNotFit(_trim(f"The {role} pipeline cannot load it: {type(exc).__name__}: {detail}")) from None


def _swap_in(ctx: WorkflowContext, pipeline, params: LoraCheckParams, role: str) -> None:
    try:
        ctx.adapters.activate(pipeline, params.lora)
    except LoraMisfit as exc:
        raise LoraDoesNotFit(_trim(f"The {role} pipeline cannot load it: {exc}")) from None


def file_layers(data: bytes) -> list[str]:
    """The LoRA layers in a safetensors file (the names of their down weights' modules). The web
    tier has checked the file's shape; this reads only its header."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    header.pop("__metadata__", None)
    return sorted(match["base"] for key in header if (match := _DOWN.match(key)))


def loaded_layers(pipeline, name: str) -> set[str]:
    """The layers of adapter `name` on the pipeline, as "<component>.<module path>"."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    found = set()
    for component_name in COMPONENTS:
        component = getattr(pipeline, component_name, None)
        if component is None:
            continue
        component = getattr(component, "_orig_mod", component)  # a compiled UNet
        for module_name, module in component.named_modules():
            if isinstance(module, BaseTunerLayer) and name in getattr(module, "lora_A", {}):
                found.add(f"{component_name}.{module_name}")
    return found


def _misfit(role: str, layers: list[str], loaded: set[str]) -> str:
    """Why the loaded adapter is not all of the file ("" when it is). Layers in diffusers' own
    format name their module, so each one is looked for; other formats (kohya's "lora_unet_...")
    are converted on load and can only be counted."""
    missing = [layer for layer in layers if layer.split(".", 1)[0] in COMPONENTS and layer not in loaded]
    if not missing and len(loaded) >= len(layers):
        return ""
    reason = (
        f"Only {len(loaded)} of its {len(layers)} layers fit the {role} pipeline; "
        "the others name modules the base model does not have."
    )
    if missing:
        more = f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else ""
        reason += f" Not found: {', '.join(missing[:MAX_NAMED])}{more}."
    return _trim(reason)


def _unload(pipeline, name: str) -> None:
    present = {adapter for adapters in pipeline.get_list_adapters().values() for adapter in adapters}
    if name in present:
        pipeline.delete_adapters([name])


def _trim(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _out_of_memory(exc: BaseException) -> bool:
    import torch

    message = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or "out of memory" in message
