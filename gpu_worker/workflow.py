"""Workflows register themselves here, and run through one narrow context.

    @workflow(CONTRACT, models=("inpaint", "detector"), settings=DeskSettings.from_env)
    def run(ctx: WorkflowContext, params: DeskParams) -> DeskResult: ...

A workflow is one package under `gpu_worker/workflows/` (found by discovery, nothing to edit
elsewhere) plus one contract module. The decorator records its contract (kind, typed params and
result, queue, timeout, stages, error codes), the model roles it needs and how it reads its own
settings. A worker serves the workflows in ONTOP_GPU_WORKFLOWS (default: all) and loads only their
models. The context gives a workflow storage, progress, its models and the adapter service —
never the whole runtime (InvokeAI's InvocationContext is the model).
"""

from __future__ import annotations

import importlib
import io
import pkgutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image, PngImagePlugin

from gpu_worker.config import DiffusionSettings, OpenAISettings, WorkerConfigError
from gpu_worker.contract import JobSpec, LoraSpec, OutputImage, WorkflowContract
from gpu_worker.progress import ProgressReporter
from gpu_worker.storage import Storage, StorageMissing

if TYPE_CHECKING:
    from gpu_worker.contract.portrait import PersonalModelSpec
    from gpu_worker.runtime import Runtime


@dataclass(frozen=True)
class RegisteredWorkflow:
    contract: WorkflowContract
    run: Callable[[WorkflowContext, Any], Any]
    models: tuple[str, ...]
    settings: Callable[[str], Any] | None = None  # model preset → the workflow's own settings
    # size → (params, {input name: bytes or a list of bytes}): a representative job, for the benchmark.
    sample: Callable[[int], tuple[Any, dict[str, bytes | list[bytes]]]] | None = None

    @property
    def kind(self) -> str:
        return self.contract.kind


_REGISTRY: dict[str, RegisteredWorkflow] = {}


def workflow(
    contract: WorkflowContract,
    *,
    models: tuple[str, ...],
    settings: Callable[[str], Any] | None = None,
    sample: Callable[[int], tuple[Any, dict[str, bytes | list[bytes]]]] | None = None,
) -> Callable[[Callable], Callable]:
    def register(run: Callable) -> Callable:
        existing = _REGISTRY.get(contract.kind)
        where = (run.__module__, run.__qualname__)
        if existing is not None and (existing.run.__module__, existing.run.__qualname__) != where:
            raise RuntimeError(
                f"two workflows registered as {contract.kind!r}: {existing.run.__module__} and {where[0]}"
            )
        _REGISTRY[contract.kind] = RegisteredWorkflow(
            contract=contract, run=run, models=models, settings=settings, sample=sample
        )
        return run

    return register


def registered_workflows() -> dict[str, RegisteredWorkflow]:
    """Every workflow package under gpu_worker/workflows, imported once so it registers itself."""
    import gpu_worker.workflows as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    # By kind, not by import order: queue priority and model loading must not depend on which
    # module some other code happened to import first.
    return dict(sorted(_REGISTRY.items()))


def served_workflows(names: tuple[str, ...]) -> dict[str, RegisteredWorkflow]:
    """The workflows a worker serves: those named (ONTOP_GPU_WORKFLOWS), or all when none are."""
    available = registered_workflows()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise WorkerConfigError(
            f"ONTOP_GPU_WORKFLOWS names unknown workflows: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(available))})."
        )
    return {k: v for k, v in available.items() if not names or k in names}


def queues_for(served: dict[str, RegisteredWorkflow], explicit: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The queues to listen on. RQ cannot pick jobs by kind, so a worker may only listen on a queue
    when it serves every workflow that sends jobs there; otherwise it would take jobs it cannot run."""
    own = tuple(dict.fromkeys(w.contract.queue for w in served.values()))
    queues = explicit or own
    if explicit:
        stray = [q for q in explicit if q not in own]
        if stray:
            raise WorkerConfigError(
                f"ONTOP_GPU_QUEUES names {', '.join(stray)}, which no served workflow uses "
                f"(theirs: {', '.join(own)}); a GPU worker there would take jobs it cannot run."
            )
    for queue in queues:
        missing = [
            w.kind for w in registered_workflows().values() if w.contract.queue == queue and w.kind not in served
        ]
        if missing:
            raise WorkerConfigError(
                f"queue {queue!r} also carries {', '.join(missing)} jobs, which this worker does not serve; "
                "add them to ONTOP_GPU_WORKFLOWS or listen on other queues."
            )
    return queues


def model_roles(served: dict[str, RegisteredWorkflow]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(role for w in served.values() for role in w.models))


# ---- the context ---------------------------------------------------------------------------


class Models:
    """A workflow's view of the model registry: only the roles it declared."""

    def __init__(self, runtime: Runtime, roles: tuple[str, ...]) -> None:
        self._registry = runtime.models
        self.roles = roles

    def get(self, role: str) -> Any:
        if role not in self.roles:
            raise KeyError(f"this workflow did not declare the model role {role!r}")
        return self._registry.get(role)

    def identifier(self, role: str) -> str:
        return self._registry.identifier(role)

    def identifiers(self) -> dict[str, str]:
        loaded = self._registry.loaded()
        return self._registry.identifiers(tuple(r for r in self.roles if r in loaded))

    @contextmanager
    def exclusive(self, pipeline) -> Iterator[None]:
        """Holds the pipeline (and its adapters) for one job at a time."""
        with self._registry.pipeline_lock(pipeline):
            yield


class Adapters:
    """Activates LoRAs on a pipeline (bounded and hash-checked; see gpu_worker.loras): the job's
    style, and its personal model (checked against the pipeline's base model)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def activate(self, pipeline, lora: LoraSpec | None, personal: PersonalModelSpec | None = None) -> None:
        base_model = self._runtime.models.identifier("txt2img") if personal is not None else ""
        self._runtime.loras(pipeline).activate(lora, personal, base_model=base_model)


@dataclass
class WorkflowContext:
    spec: JobSpec
    storage: Storage
    progress: ProgressReporter
    models: Models
    adapters: Adapters
    diffusion: DiffusionSettings
    openai: OpenAISettings
    settings: Any = None  # the workflow's own settings, if it registered a reader
    timings: dict[str, float] = field(default_factory=dict)
    outputs: list[OutputImage] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    def read_input(self, name: str) -> bytes:
        if not isinstance(self.spec.inputs.get(name), str):
            raise StorageMissing(f"the job has no input named {name!r}")
        return self.storage.read(self.spec.inputs[name])

    @contextmanager
    def timed(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - started, 4)

    def write_image(self, role: str, image: Image.Image, *, name: str | None = None) -> OutputImage:
        """Every picture we write says it is AI-generated, in the file itself (IPTC's term for it)."""
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=ai_generated_pnginfo(self.spec.kind))
        key = f"{self.spec.output_prefix}{name or role}.png"
        self.storage.write(key, buffer.getvalue(), "image/png")
        output = OutputImage(role=role, key=key, width=image.width, height=image.height)
        self.outputs.append(output)
        return output


AI_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def ai_generated_pnginfo(kind: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "OnTop")
    info.add_text("DigitalSourceType", AI_SOURCE_TYPE)
    info.add_text("Comment", f"AI-generated by OnTop ({kind})")
    return info


def context_for(registered: RegisteredWorkflow, spec: JobSpec, runtime: Runtime, progress: ProgressReporter):
    config = runtime.config
    return WorkflowContext(
        spec=spec,
        storage=runtime.storage,
        progress=progress,
        models=Models(runtime, registered.models),
        adapters=Adapters(runtime),
        diffusion=config.diffusion,
        openai=config.openai,
        settings=workflow_settings(registered, config.model_preset),
    )


_SETTINGS: dict[str, Any] = {}


def workflow_settings(registered: RegisteredWorkflow, preset: str) -> Any:
    """Read once per process (the environment does not change under a running worker)."""
    if registered.settings is None:
        return None
    if registered.kind not in _SETTINGS:
        _SETTINGS[registered.kind] = registered.settings(preset)
    return _SETTINGS[registered.kind]
