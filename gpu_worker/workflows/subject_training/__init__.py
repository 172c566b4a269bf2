"""The profile studio's training: a subject's photos become a personal model (pivotal tuning)."""

from gpu_worker.workflows.subject_training import workflow  # noqa: F401 - registers the workflow
