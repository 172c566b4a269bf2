"""Expected failures of a workflow, each with an error code from the contract and a readable message.

The message is for logs and the admin; the web tier shows people a translated message looked up
by the code. Workflows define their own subclasses with their contract's own codes.
"""

from __future__ import annotations

from gpu_worker.contract import ErrorCode


class WorkflowError(Exception):
    code: str = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadImage(WorkflowError):
    code = ErrorCode.BAD_IMAGE


class BadParams(WorkflowError):
    code = ErrorCode.BAD_PARAMS


class JobCancelled(WorkflowError):
    code = ErrorCode.CANCELLED
