"""Expected failures of a workflow, each with the contract's error code and a person-readable message."""

from __future__ import annotations

from gpu_worker.contract import ErrorCode


class WorkflowError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadImage(WorkflowError):
    code = ErrorCode.BAD_IMAGE


class NotADesk(WorkflowError):
    code = ErrorCode.NOT_A_DESK


class NoFreeSpace(WorkflowError):
    code = ErrorCode.NO_FREE_SPACE


class PlannerFailed(WorkflowError):
    code = ErrorCode.PLANNER_FAILED


class JobCancelled(WorkflowError):
    code = ErrorCode.CANCELLED
