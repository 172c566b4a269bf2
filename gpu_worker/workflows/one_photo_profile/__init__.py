from gpu_worker.workflows.one_photo_profile import workflow  # noqa: F401  (registers the workflow)
