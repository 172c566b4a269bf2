from gpu_worker.workflows.portrait import workflow  # noqa: F401  (registers the workflow)
