"""LoRA check (an admin tool): does a style LoRA fit the base model? A real load, layer by layer."""

from gpu_worker.workflows.lora_check import workflow  # noqa: F401 - registers the workflow
