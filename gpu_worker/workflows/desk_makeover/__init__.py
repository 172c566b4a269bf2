"""The desk makeover workflow: its stages, labels, desk check, planner and settings live here."""

from gpu_worker.workflows.desk_makeover import workflow  # noqa: F401 - registers the workflow
