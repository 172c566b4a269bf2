"""The engine's own smoke test: read a photo, report progress, write a greyscale preview.

It proves the whole path (web → Redis → GPU worker → storage → finalize) with no model cost.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gpu_worker.contract import WorkflowContract

KIND = "preview"
PHOTO_INPUT = "photo"


class PreviewStage(enum.StrEnum):
    LOADING = "loading"
    PREVIEW = "preview"
    SAVING = "saving"
    DONE = "done"


@dataclass(frozen=True)
class PreviewParams:
    seed: int = 0


@dataclass(frozen=True)
class PreviewResult:
    input_size: list[int]


CONTRACT = WorkflowContract(
    kind=KIND,
    queue="gpu",
    timeout_seconds=5 * 60,
    params=PreviewParams,
    result=PreviewResult,
    stages=PreviewStage,
)
