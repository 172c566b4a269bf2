"""The only thing the web tier and the GPU tier share: a small, versioned JSON contract.

Standard library only. Payloads carry storage keys (paths inside the shared media
directory or bucket), never image bytes or ORM objects. Both sides validate what they
receive with `from_dict`, which raises `ContractError` on anything it does not understand.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

CONTRACT_VERSION = 1

# Where and what the web tier enqueues. The function is referenced by name so the web tier
# never imports it (RQ resolves the string inside the GPU worker).
GPU_QUEUE = "gpu"
GPU_JOB_FUNCTION = "gpu_worker.jobs.run_job"
# job.meta key under which the GPU worker publishes `Progress` while a job runs.
PROGRESS_META_KEY = "ontop_progress"
# Redis key (+ job_id) the web tier sets to ask a running job to stop; checked at every progress report.
CANCEL_KEY_PREFIX = "ontop:cancel:"
# Enqueued (by name, JSON) on the web tier's "default" queue when a GPU job starts: the web tier
# records "running". The GPU tier never imports it.
STARTED_QUEUE = "default"
STARTED_FUNCTION = "generation.tasks.gpu_job_started"
# A running job refreshes its progress at least this often; older than HEARTBEAT_TIMEOUT_SECONDS
# means its worker died (the sweeper then fails the job).
HEARTBEAT_SECONDS = 15
HEARTBEAT_TIMEOUT_SECONDS = 120


class ContractError(ValueError):
    """A payload does not match this contract version."""


class JobKind(enum.StrEnum):
    # Proves the path end to end: load the upload, report progress, write a derived image.
    PREVIEW = "preview"
    DESK_MAKEOVER = "desk_makeover"


class JobStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ErrorCode(enum.StrEnum):
    BAD_IMAGE = "bad_image"
    NOT_A_DESK = "not_a_desk"
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    PLANNER_FAILED = "planner_failed"
    NO_FREE_SPACE = "no_free_space"
    INPUT_MISSING = "input_missing"
    UNSUPPORTED_JOB = "unsupported_job"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise ContractError(f"missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ContractError(f"field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _check_version(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContractError("payload must be a JSON object")
    version = data.get("version")
    if version != CONTRACT_VERSION:
        raise ContractError(f"unsupported contract version {version!r} (this side speaks {CONTRACT_VERSION})")
    return data


def _enum(enum_cls: type[enum.StrEnum], value: Any, field_name: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        raise ContractError(f"unknown {field_name} {value!r}") from None


@dataclass(frozen=True)
class JobSpec:
    """What to do. `job_id` is the web tier's id for the job (a UUID string)."""

    job_id: str
    kind: JobKind
    input_key: str
    output_prefix: str
    params: dict[str, Any] = field(default_factory=dict)
    version: int = CONTRACT_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> JobSpec:
        data = _check_version(data)
        output_prefix = _require(data, "output_prefix", str)
        if not output_prefix.endswith("/") or output_prefix.startswith("/") or ".." in output_prefix:
            raise ContractError("output_prefix must be a relative key prefix ending in '/'")
        return cls(
            job_id=_require(data, "job_id", str),
            kind=_enum(JobKind, _require(data, "kind", str), "job kind"),
            input_key=_require(data, "input_key", str),
            output_prefix=output_prefix,
            params=dict(_require(data, "params", dict)),
        )


@dataclass(frozen=True)
class Progress:
    """Live progress, written to the RQ job's meta by the GPU worker and read by the web tier."""

    stage: str
    percent: float
    step: int = 0
    total_steps: int = 0
    message: str = ""
    updated_at: float = 0.0  # epoch seconds: the job's last sign of life
    version: int = CONTRACT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Progress:
        data = _check_version(data)
        percent = float(_require(data, "percent", (int, float)))
        return cls(
            stage=_require(data, "stage", str),
            percent=min(100.0, max(0.0, percent)),
            step=int(data.get("step", 0)),
            total_steps=int(data.get("total_steps", 0)),
            message=str(data.get("message", "")),
            updated_at=float(data.get("updated_at", 0.0)),
        )


@dataclass(frozen=True)
class OutputImage:
    role: str  # "result", "preview", "mask", ...
    key: str
    width: int
    height: int
    content_type: str = "image/png"

    @classmethod
    def from_dict(cls, data: Any) -> OutputImage:
        if not isinstance(data, dict):
            raise ContractError("output must be an object")
        return cls(
            role=_require(data, "role", str),
            key=_require(data, "key", str),
            width=_require(data, "width", int),
            height=_require(data, "height", int),
            content_type=str(data.get("content_type", "image/png")),
        )


@dataclass(frozen=True)
class JobError:
    code: ErrorCode
    message: str

    @classmethod
    def from_dict(cls, data: Any) -> JobError:
        if not isinstance(data, dict):
            raise ContractError("error must be an object")
        return cls(
            code=_enum(ErrorCode, _require(data, "code", str), "error code"), message=str(data.get("message", ""))
        )


@dataclass(frozen=True)
class JobResult:
    """What happened. On failure `error` is set and `outputs` may be empty."""

    job_id: str
    status: JobStatus
    outputs: list[OutputImage] = field(default_factory=list)
    error: JobError | None = None
    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    # Workflow-specific data (detections, recommended items, seed, ...).
    data: dict[str, Any] = field(default_factory=dict)
    version: int = CONTRACT_VERSION

    @classmethod
    def failure(cls, job_id: str, code: ErrorCode, message: str, **extra: Any) -> JobResult:
        return cls(job_id=job_id, status=JobStatus.FAILED, error=JobError(code, message), **extra)

    def output(self, role: str) -> OutputImage | None:
        return next((o for o in self.outputs if o.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        if self.error is not None:
            data["error"] = {"code": self.error.code.value, "message": self.error.message}
        return data

    @classmethod
    def from_dict(cls, data: Any) -> JobResult:
        data = _check_version(data)
        status = _enum(JobStatus, _require(data, "status", str), "job status")
        error = JobError.from_dict(data["error"]) if data.get("error") is not None else None
        if status is JobStatus.FAILED and error is None:
            raise ContractError("a failed result must carry an error")
        return cls(
            job_id=_require(data, "job_id", str),
            status=status,
            outputs=[OutputImage.from_dict(o) for o in _require(data, "outputs", list)],
            error=error,
            timings={str(k): float(v) for k, v in dict(data.get("timings", {})).items()},
            models={str(k): str(v) for k, v in dict(data.get("models", {})).items()},
            data=dict(data.get("data", {})),
        )
