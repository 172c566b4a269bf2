"""The profile studio's photo check: one verdict per photo (subject, face, sharpness, perceptual hash)."""

from gpu_worker.workflows.subject_photo_check import workflow  # noqa: F401 - registers the workflow
