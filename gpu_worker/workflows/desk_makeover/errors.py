"""The desk makeover's own failures (codes from its contract module)."""

from __future__ import annotations

from gpu_worker.contract.desk_makeover import DeskError
from gpu_worker.errors import WorkflowError


class NotADesk(WorkflowError):
    code = DeskError.NOT_A_DESK


class NoFreeSpace(WorkflowError):
    code = DeskError.NO_FREE_SPACE
