"""The shape of OnTop's log lines, written alike by both tiers (ontop/log_context.py for the web,
gpu_worker/logs.py for the GPU worker): every line about a job carries the job's id.

Part of what the tiers share, like the JSON contract: an operator greps one id across machines.
Standard library only (Django settings import it through ontop/log_context.py).

- plain (default): one line per record for people, ` job=<id>` appended;
- json: one JSON object per line (time, level, logger, message, job_id, process, tier, exc).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

LOG_FORMATS = ("plain", "json")

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("ontop_job_id", default=None)
# RQ's own lines name our job by its RQ id (generation/dispatch.py rq_job_ids: gpu-<uuid>[-aN],
# finalize-<uuid>[-aN]) or by the description it was enqueued with ("<kind> <uuid>", "finalize <uuid>",
# "started <uuid>"). A bare uuid is an RQ id nobody chose (the start announcement's): not a job id.
_RQ_JOB_ID = re.compile(
    r"(?:\b(?:gpu|finalize)-|\b[a-z][a-z0-9_]* )([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"
)


def current_job_id() -> str | None:
    return _job_id.get()


@contextlib.contextmanager
def job_log_context(job_id: object) -> Iterator[None]:
    """Every record logged inside (in this thread or task, and threads started with a copy of this
    context) carries `job_id`."""
    token = _job_id.set(str(job_id))
    try:
        yield
    finally:
        _job_id.reset(token)


class JobIdFilter(logging.Filter):
    """Sets `record.job_id`: the job being handled, or the job an RQ line names."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id = getattr(record, "job_id", None) or _job_id.get()
        if job_id is None and record.name.startswith("rq"):
            with contextlib.suppress(Exception):  # a record whose arguments do not format stays untagged
                found = _RQ_JOB_ID.search(record.getMessage())
                job_id = found.group(1) if found else None
        record.job_id = job_id
        return True


class PlainFormatter(logging.Formatter):
    """The usual one-line format with ` job=<id>` after the message (before any traceback)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        text = super().formatMessage(record)
        job_id = getattr(record, "job_id", None)
        return f"{text} job={job_id}" if job_id else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback goes into `exc`, never onto lines of its own."""

    def __init__(self, tier: str) -> None:
        super().__init__()
        self.tier = tier

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None),
            "process": record.process,
            "tier": self.tier,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
