"""An admin tool: does a style LoRA fit the base model this worker paints with?

The web tier checks the file itself (safetensors, LoRA-shaped, finite) without torch; only a real
load shows whether its layers name modules the base model has, with the shapes it has. This job
loads the LoRA through the adapter manager into every style-painting pipeline (inpainting and
text-to-image) and checks that every one of its layers landed on a module of the base model.

A LoRA that does not fit is an answer, not a failure: the job succeeds with `fits=False` and the
reason. A failed job (worker lost, file missing) means the question was not answered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gpu_worker.contract import LoraSpec, WorkflowContract

KIND = "lora_check"


class LoraCheckStage(enum.StrEnum):
    LOADING = "loading"
    CHECKING = "checking"
    DONE = "done"


@dataclass(frozen=True)
class LoraCheckParams:
    lora: LoraSpec


@dataclass(frozen=True)
class LoraCheckResult:
    fits: bool
    reason: str = ""  # why it does not fit (for the admin; technical, in English)
    # The pipelines (model roles) the LoRA was loaded into, and the LoRA layers in the file.
    pipelines: list[str] = field(default_factory=list)
    layers: int = 0


CONTRACT = WorkflowContract(
    kind=KIND,
    # Short, and needs the style-painting pipelines: on the makeovers' queue, served first.
    queue="gpu",
    timeout_seconds=5 * 60,
    params=LoraCheckParams,
    result=LoraCheckResult,
    stages=LoraCheckStage,
)
