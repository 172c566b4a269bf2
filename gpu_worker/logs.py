"""The GPU worker's log lines, each tagged with the job it concerns.

`job_log_context(job_id)` marks everything logged while a job runs in that thread (our code, RQ,
diffusers) with the job's id. RQ's own lines before and after a job name it (by RQ id or
description), and are tagged with that job's id too. ONTOP_GPU_LOG_FORMAT (else the web's
ONTOP_LOG_FORMAT) picks the output:

- plain (default): one line per record for people, `job=<id>` appended;
- json: one JSON object per line (time, level, logger, message, job_id, process, tier, exc) for
  a log shipper.

The line shape (and the job context) is gpu_worker/contract/log_lines.py, shared with the web tier.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

from gpu_worker.config import WorkerConfigError
from gpu_worker.contract.log_lines import (  # noqa: F401 - this tier's names for them
    LOG_FORMATS,
    JobIdFilter,
    PlainFormatter,
    current_job_id,
    job_log_context,
)
from gpu_worker.contract.log_lines import JsonFormatter as _JsonFormatter

PLAIN_FORMAT = "%(asctime)s %(levelname)s gpu_worker %(name)s: %(message)s"
TIER = "gpu"


class JsonFormatter(_JsonFormatter):
    def __init__(self, tier: str = TIER) -> None:
        super().__init__(tier=tier)


def log_format_from_env() -> str:
    """ONTOP_GPU_LOG_FORMAT, else the web's ONTOP_LOG_FORMAT (one setting for a whole box), else plain."""
    for name in ("ONTOP_GPU_LOG_FORMAT", "ONTOP_LOG_FORMAT"):
        raw = os.environ.get(name, "").strip()
        if raw:
            if raw.lower() not in LOG_FORMATS:
                raise WorkerConfigError(f"{name} must be plain or json; got {raw!r}.")
            return raw.lower()
    return "plain"


def configure_logging(level: int = logging.INFO) -> None:
    """The root handler on stderr (RQ then logs through it too), tagged and formatted as configured."""
    log_format = log_format_from_env()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(JobIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn() becomes a record (tagged, formatted) too
    if log_format == "json":  # a crash's traceback is one JSON line too, not twenty plain ones
        sys.excepthook = _log_uncaught


def _log_uncaught(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("gpu_worker").critical("uncaught exception", exc_info=(kind, value, traceback))


def route_library_logs() -> None:
    """transformers and diffusers log through stderr handlers of their own and draw progress bars:
    their records go through ours instead (so they carry the job id and are JSON when asked), and
    the bars, which are not log lines, are off. Imports both (seconds): call it where the worker
    is about to load models anyway, not in a supervisor that never does."""
    for name in ("transformers", "diffusers"):
        try:
            library = importlib.import_module(f"{name}.utils.logging")
        except ImportError:  # a machine without the library has no lines from it either
            continue
        library.disable_default_handler()
        library.enable_propagation()
        library.disable_progress_bar()
