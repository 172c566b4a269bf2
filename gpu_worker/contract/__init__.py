"""The only thing the web tier and the GPU tier share: a small, versioned JSON contract.

Standard library only. This module is the envelope every workflow shares: the job spec with
named inputs, live progress, the result, and the generic error codes. Each workflow adds one
module next to it (`contract/<kind>.py`) with its typed params, result, stage names and own
error codes, bundled as a `WorkflowContract`. Payloads carry storage keys (paths inside the
shared media directory or bucket), never image bytes or ORM objects. Both sides validate what
they receive, and a payload that does not match raises `ContractError`.
"""

from __future__ import annotations

import enum
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar

from gpu_worker.contract.codec import ContractError, decode, encode

__all__ = [
    "CANCEL_KEY_PREFIX",
    "CONTRACT_VERSION",
    "GPU_JOB_FUNCTION",
    "HEARTBEAT_SECONDS",
    "HEARTBEAT_TIMEOUT_SECONDS",
    "PROGRESS_META_KEY",
    "ContractError",
    "ErrorCode",
    "JobError",
    "JobResult",
    "JobSpec",
    "JobStatus",
    "LoraSpec",
    "OutputImage",
    "Progress",
    "StyleSpec",
    "TaskRef",
    "WorkflowContract",
    "decode",
    "encode",
]

CONTRACT_VERSION = 2

# What the web tier enqueues. Referenced by name so the web tier never imports it (RQ resolves
# the string inside the GPU worker).
GPU_JOB_FUNCTION = "gpu_worker.jobs.run_job"
# job.meta key under which the GPU worker publishes `Progress` while a job runs.
PROGRESS_META_KEY = "ontop_progress"
# Redis key (+ job_id) the web tier sets to ask a running job to stop; checked at every progress report.
# The same prefix + an RQ job id stops one attempt only: the web tier sets it for an attempt it has
# given up on (declared lost and replaced), in case that attempt is in fact still running.
CANCEL_KEY_PREFIX = "ontop:cancel:"
# A running job's worker stamps the RQ job's `last_heartbeat` this often (a thread, whatever the
# job is doing); no sign of life for HEARTBEAT_TIMEOUT_SECONDS means its worker died, and the
# sweeper (every 10 s) fails or resumes the job: within 30 s of the death.
HEARTBEAT_SECONDS = 5
HEARTBEAT_TIMEOUT_SECONDS = 15

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class JobStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ErrorCode(enum.StrEnum):
    """Failures any workflow can have. A workflow's own codes live in its contract module."""

    BAD_IMAGE = "bad_image"
    BAD_PARAMS = "bad_params"
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    INPUT_MISSING = "input_missing"
    UNSUPPORTED_JOB = "unsupported_job"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


def check_key(key: str, what: str = "storage key") -> str:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key or "\x00" in key:
        raise ContractError(f"{what} {key!r} must be a relative key inside the storage")
    return key


PHOTO_CACHE_ROOT = "cache/perception"


def photo_cache_prefix(input_key: str) -> str:
    """Where the GPU tier keeps what it derived from one stored photo (its detections and masks,
    reused by "try another style"). Keyed by the photo's storage key, so the web tier deletes it
    with the photo: a mask of someone's room is as private as the photo."""
    return f"{PHOTO_CACHE_ROOT}/{hashlib.sha256(check_key(input_key).encode()).hexdigest()}/"


@dataclass(frozen=True)
class TaskRef:
    """A function the web tier wants enqueued (by name, JSON) on one of its queues: the GPU tier
    calls back without knowing any web function."""

    queue: str
    function: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", self.queue):
            raise ContractError(f"bad callback queue {self.queue!r}")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+", self.function):
            raise ContractError(f"bad callback function {self.function!r}")


@dataclass(frozen=True)
class JobSpec:
    """What to do. `job_id` is the web tier's id (a UUID string); `params` is the workflow's typed
    params as JSON (decode with the workflow's `WorkflowContract.params`)."""

    job_id: str
    kind: str
    output_prefix: str
    inputs: dict[str, str | list[str]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    on_start: TaskRef | None = None
    version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        if not _KIND.match(self.kind):
            raise ContractError(f"unknown job kind {self.kind!r}")
        prefix = self.output_prefix
        if not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix:
            raise ContractError("output_prefix must be a relative key prefix ending in '/'")
        for name, value in self.inputs.items():
            for key in [value] if isinstance(value, str) else value:
                check_key(key, f"input {name!r}")

    def input_key(self, name: str) -> str:
        value = self.inputs.get(name)
        if not isinstance(value, str):
            raise ContractError(f"the job has no single input named {name!r}")
        return value

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Any) -> JobSpec:
        return decode(cls, _check_version(data), "job spec")


_PROGRESS_OPTIONAL = ("loss", "eta_seconds", "preview_key")


@dataclass(frozen=True)
class Progress:
    """Live progress, written to the RQ job's meta by the GPU worker and read by the web tier."""

    stage: str
    percent: float
    step: int = 0
    total_steps: int = 0
    message: str = ""
    updated_at: float = 0.0  # epoch seconds: the job's last sign of life
    # Training reports these too: the current loss, the seconds left, the latest checkpoint preview.
    loss: float | None = None
    eta_seconds: float | None = None
    preview_key: str = ""
    version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        if self.preview_key:
            check_key(self.preview_key, "preview key")
        object.__setattr__(self, "percent", min(100.0, max(0.0, float(self.percent))))
        # JSON has no NaN: a diverging loss is shown as "no figure", never as a broken payload.
        for name in ("loss", "eta_seconds"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                object.__setattr__(self, name, None)

    def to_dict(self) -> dict[str, Any]:
        # The training-only fields are left out when unset, so a web tier that does not know them
        # yet (GPU workers deployed first) still reads every picture job's progress.
        data = encode(self)
        for name in _PROGRESS_OPTIONAL:
            if data[name] in (None, ""):
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Progress:
        return decode(cls, _check_version(data), "progress")


@dataclass(frozen=True)
class OutputImage:
    role: str  # "result", "mask", ...
    key: str
    width: int
    height: int
    content_type: str = "image/png"


@dataclass(frozen=True)
class JobError:
    code: str  # an ErrorCode or one of the workflow's own codes
    message: str = ""

    def __post_init__(self) -> None:
        code = self.code.value if isinstance(self.code, enum.Enum) else self.code
        if not _ERROR_CODE.match(code):
            raise ContractError(f"unknown error code {code!r}")
        object.__setattr__(self, "code", code)


@dataclass(frozen=True)
class JobResult:
    """What happened. On failure `error` is set and `outputs` may be empty. `data` is the
    workflow's typed result as JSON (decode with `WorkflowContract.result`)."""

    job_id: str
    status: JobStatus
    outputs: list[OutputImage] = field(default_factory=list)
    error: JobError | None = None
    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    version: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        if self.status is JobStatus.FAILED and self.error is None:
            raise ContractError("a failed result must carry an error")

    @classmethod
    def failure(cls, job_id: str, code: str, message: str, **extra: Any) -> JobResult:
        return cls(job_id=job_id, status=JobStatus.FAILED, error=JobError(code, message), **extra)

    def output(self, role: str) -> OutputImage | None:
        return next((o for o in self.outputs if o.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    @classmethod
    def from_dict(cls, data: Any) -> JobResult:
        return decode(cls, _check_version(data), "job result")


def _check_version(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContractError("payload must be a JSON object")
    version = data.get("version")
    if version != CONTRACT_VERSION:
        raise ContractError(f"unsupported contract version {version!r} (this side speaks {CONTRACT_VERSION})")
    return data


# ---- shared pieces of workflow params ----------------------------------------------------------


@dataclass(frozen=True)
class LoraSpec:
    """A style (or personal) LoRA in storage, pinned by content hash."""

    key: str
    sha256: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        check_key(self.key, "LoRA key")
        if not self.key.endswith(".safetensors") or not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ContractError("LoRAs must be .safetensors files with a lower-case hex SHA-256")
        if not 0.0 <= self.weight <= 2.0:
            raise ContractError("a LoRA weight must be between 0 and 2")


@dataclass(frozen=True)
class StyleSpec:
    """What an admin-curated style said when the job was submitted (editing it later changes nothing)."""

    slug: str
    prompt_addition: str = ""
    negative_prompt_addition: str = ""
    steps: int | None = None
    guidance: float | None = None
    strength: float | None = None
    lora: LoraSpec | None = None


P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class WorkflowContract(Generic[P, R]):
    """Everything both tiers must agree on for one workflow."""

    kind: str
    queue: str  # the RQ queue its jobs go to: long jobs never wait behind short ones
    timeout_seconds: int  # the default; the web tier may override it per kind
    params: type[P]
    result: type[R]
    stages: type[enum.StrEnum]  # the progress stages, in order; the web's labels come from these
    errors: type[enum.StrEnum] | None = None  # the workflow's own error codes

    def __post_init__(self) -> None:
        if not _KIND.match(self.kind):
            raise ContractError(f"bad workflow kind {self.kind!r}")

    def encode_params(self, params: P) -> dict[str, Any]:
        if not isinstance(params, self.params):
            raise ContractError(f"{self.kind} params must be {self.params.__name__}")
        return encode(params)

    def decode_params(self, data: Any) -> P:
        return decode(self.params, data, f"{self.kind} params")

    def decode_result(self, data: Any) -> R:
        return decode(self.result, data, f"{self.kind} result")

    def error_codes(self) -> tuple[str, ...]:
        own = tuple(e.value for e in self.errors) if self.errors else ()
        return tuple(e.value for e in ErrorCode) + own


def all_contracts() -> dict[str, WorkflowContract]:
    """Every workflow contract module in this package (`contract/<kind>.py` defines `CONTRACT`)."""
    import importlib
    import pkgutil

    found: dict[str, WorkflowContract] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "codec":
            continue
        contract = getattr(importlib.import_module(f"{__name__}.{module.name}"), "CONTRACT", None)
        if isinstance(contract, WorkflowContract):
            found[contract.kind] = contract
    return found
