"""One package (or module) per workflow. Each registers itself with `gpu_worker.workflow.workflow`
when imported; `gpu_worker.workflow.registered_workflows()` imports them all, so adding a workflow
edits nothing here."""
