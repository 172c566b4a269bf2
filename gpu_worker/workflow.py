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

import contextvars
import importlib
import io
import pkgutil
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image, PngImagePlugin

from gpu_worker import deferred_writes
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

    def swaps_into_slots(self, pipeline) -> bool:
        """Whether this pipeline's UNet is compiled with LoRA slots (hotswap): adapters are then
        copied into fixed slots, never added, so a LoRA fits when its slot covers all its layers."""
        return self._runtime.loras(pipeline).hotswap

    def activate(self, pipeline, lora: LoraSpec | None, personal: PersonalModelSpec | None = None) -> None:
        base_model = self._runtime.models.identifier("txt2img") if personal is not None else ""
        self._runtime.loras(pipeline).activate(lora, personal, base_model=base_model)


ImageFormat = Literal["PNG", "JPEG"]
# High-quality JPEG: 4:4:4 (no chroma subsampling) keeps thin coloured edges (cables, text) crisp.
JPEG_QUALITY = 92
# zlib level 6 (Pillow's default) took 2.6 s on a 2389×1792 result. Level 1 with the run-length
# strategy took a fifth to a half of that, for a file about as small (3.89 vs 3.78 MiB on a photo).
PNG_FAST_LEVEL = 1
PNG_FAST_STRATEGY = zlib.Z_RLE
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg"}
_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


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
    # perf_counter() when each stage first started: shows how stages run beside each other.
    stage_started: dict[str, float] = field(default_factory=dict)
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
        self.stage_started.setdefault(stage, started)
        try:
            yield
        finally:
            # Stages timed from background threads use their own keys; a dict item write is atomic.
            self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - started, 4)

    @contextmanager
    def background(self) -> Iterator[Background]:
        """Work that runs beside the job's main line (a planner call, file writes). Leaving the block
        waits for all of it, so nothing outlives the job; the first failure is raised then, as if it
        had happened in line (the same exception, so the same error code)."""
        work = Background(self)
        try:
            yield work
        except BaseException:
            work.wait()  # the job's own failure wins; the background's is dropped
            raise
        work.wait()
        work.raise_first_error()

    def write_image(
        self,
        role: str,
        image: Image.Image,
        *,
        name: str | None = None,
        format: ImageFormat = "PNG",
        compress_level: int = 6,
        compress_type: int = -1,  # Pillow's choice (not zlib.Z_DEFAULT_STRATEGY: other bytes)
    ) -> OutputImage:
        """Stores a picture and lists it among the job's outputs."""
        output = self.store_image(
            role, image, name=name, format=format, compress_level=compress_level, compress_type=compress_type
        )
        self.outputs.append(output)
        return output

    def store_image(
        self,
        role: str,
        image: Image.Image,
        *,
        name: str | None = None,
        format: ImageFormat = "PNG",
        compress_level: int = 6,
        compress_type: int = -1,  # Pillow's choice (not zlib.Z_DEFAULT_STRATEGY: other bytes)
    ) -> OutputImage:
        """Stores a picture without listing it (safe from a background thread; the caller lists the
        result in a fixed order). Every picture we write says it is AI-generated, in the file itself
        (IPTC's term for it): PNG text chunks, or EXIF and XMP in a JPEG."""
        buffer = io.BytesIO()
        if format == "PNG":
            image.save(
                buffer,
                format="PNG",
                pnginfo=ai_generated_pnginfo(self.spec.kind),
                compress_level=compress_level,
                compress_type=compress_type,
            )
        elif format == "JPEG":
            image.convert("RGB").save(
                buffer,
                format="JPEG",
                quality=JPEG_QUALITY,
                subsampling=0,
                exif=ai_generated_exif(self.spec.kind),
                xmp=ai_generated_xmp(self.spec.kind),
            )
        else:
            raise ValueError(f"unsupported image format {format!r}")
        key = f"{self.spec.output_prefix}{name or role}.{_EXTENSIONS[format]}"
        self.storage.write(key, buffer.getvalue(), _MEDIA_TYPES[format])
        return OutputImage(role=role, key=key, width=image.width, height=image.height)

    def store_image_after_job(
        self,
        role: str,
        image: Image.Image,
        *,
        name: str | None = None,
        compress_level: int = 6,
        compress_type: int = -1,
    ) -> OutputImage:
        """A PNG stored after the job is reported (gpu_worker/deferred_writes.py): its output is
        returned at once, for the job to list; the file appears a moment later. For copies nobody
        needs the moment the job ends (the lossless download). `image` must not change afterwards."""
        key = f"{self.spec.output_prefix}{name or role}.{_EXTENSIONS['PNG']}"
        deferred_writes.defer(
            lambda: self.store_image(
                role, image, name=name, format="PNG", compress_level=compress_level, compress_type=compress_type
            ),
            what=key,
        )
        return OutputImage(role=role, key=key, width=image.width, height=image.height)


class Background:
    """The background work of one job: each call runs in its own thread and is timed as its stage."""

    def __init__(self, ctx: WorkflowContext) -> None:
        self._ctx = ctx
        self._futures: list[Future] = []

    def submit(self, stage: str, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        # Started when submitted: the order of stage_started is the order the job asked for them.
        self._ctx.stage_started.setdefault(stage, time.perf_counter())

        def work() -> None:
            try:
                with self._ctx.timed(stage):
                    value = function(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - any end must complete the future, or the job waits forever
                future.set_exception(exc)
            else:
                future.set_result(value)

        # The job's context (its id on every log line, gpu_worker/logs.py) goes with the work:
        # a new thread starts with an empty one.
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(work,), name=f"job-{self._ctx.job_id}-{stage}", daemon=True).start()
        self._futures.append(future)
        return future

    def result(self, future: Future, *, stage: str) -> Any:
        """Waits for one piece, the wait timed as `stage` (a stage of the main line, not nested in
        another), and returns its value or raises its error."""
        with self._ctx.timed(stage):
            return future.result()

    def wait(self) -> None:
        wait(self._futures)

    def raise_first_error(self) -> None:
        for future in self._futures:
            error = future.exception()
            if error is not None:
                raise error


AI_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def ai_generated_pnginfo(kind: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "OnTop")
    info.add_text("DigitalSourceType", AI_SOURCE_TYPE)
    info.add_text("Comment", f"AI-generated by OnTop ({kind})")
    return info


_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131


def ai_generated_exif(kind: str) -> Image.Exif:
    exif = Image.Exif()
    exif[_EXIF_IMAGE_DESCRIPTION] = f"AI-generated by OnTop ({kind})"
    exif[_EXIF_SOFTWARE] = "OnTop"
    return exif


def ai_generated_xmp(kind: str) -> bytes:
    """IPTC's DigitalSourceType in an XMP packet: the field that C2PA-aware viewers read in a JPEG."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        f' Iptc4xmpExt:DigitalSourceType="{AI_SOURCE_TYPE}"'
        ' xmp:CreatorTool="OnTop">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">AI-generated by OnTop ({kind})</rdf:li></rdf:Alt>'
        "</dc:description>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    ).encode()


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
