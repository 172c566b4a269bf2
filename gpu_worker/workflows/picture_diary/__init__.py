"""The picture diary workflow: a diary entry becomes the picture of the day."""

from gpu_worker.workflows.picture_diary import workflow  # noqa: F401 - registers the workflow
