"""The web tier's log lines (web, Django worker, periodic), each tagged with the job it concerns.

`job_log_context(job_id)` marks everything logged while a job's Django-side handler runs
(generation/tasks.py) with the job's id. RQ's own lines before and after a job name it
(by RQ id or description), and are tagged with that job's id too. Output (settings'
LOGGING, from ONTOP_LOG_FORMAT):

- `plain` (default): one line per record for people, `job=<id>` appended;
- `json`: one JSON object per line (time, level, logger, message, job_id, process, tier, exc).

The line shape is shared with the GPU tier (gpu_worker/contract/log_lines.py). Standard library
only: settings import it.
"""

from __future__ import annotations

from gpu_worker.contract.log_lines import (  # noqa: F401 - the web tier's names for them (settings' LOGGING)
    JobIdFilter,
    PlainFormatter,
    current_job_id,
    job_log_context,
)
from gpu_worker.contract.log_lines import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    def __init__(self) -> None:
        super().__init__(tier="web")
