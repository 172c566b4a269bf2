"""Benchmark the registered workflows as a worker runs them, speed-up variants side by side in one run.

    python -m gpu_worker.bench                                    # desk makeover, tiny preset (CPU)
    python -m gpu_worker.bench --variants plain,ours,channels_last --repeat 5
    python -m gpu_worker.bench --preset full --size 1024 --variants plain,ours,cfg_cutoff --repeat 5
    python -m gpu_worker.bench --workflows desk_makeover,picture_diary --json out.json

What makes the comparison fair:

- Every variant except `plain` runs the registered workflow itself, through `gpu_worker.jobs.execute`
  as a worker does, on the sample job the workflow registered; the stage table is the workflow's own
  `ctx.timings`. A variant is a set of ONTOP_GPU_* settings, applied while its models load and while
  its jobs run, so production reads them exactly as it would in a worker.
- Each variant gets its own freshly loaded models (its own `ModelRegistry`): `channels_last` or a
  compiled UNet never leaks into the next row.
- One untimed warm-up per variant (compilation, first allocations), then the variants are run
  interleaved (A, B, A, B, ...) `--repeat` times: medians with min and max.
- s/step is measured the same way for every variant, `plain` included: a timestamp at the end of
  each denoising step (a CUDA event on a GPU, which does not synchronise), one synchronisation at the
  end of the job, then (last - first) / (steps - 1).
- Peak VRAM per variant: `torch.cuda.max_memory_allocated`, reset before each run; the figure is this
  variant's resident models plus what its run added on top. "Resident" is what loading its models
  allocated.
- `--preset full` writes the full-size architectures with random weights (gpu_worker/full_configs.py)
  to `<model dir>/full/<role>` once, in the dtype their published weights have, and the variants load
  them through the registry with the `real` preset, exactly as production loads real weights.
- `plain` is the diffusers pipeline called as its documentation shows (`from_pretrained` in
  `--dtype`, then `pipe(...)`), nothing of ours, with the steps, guidance, strength and prompt the
  workflow used; it has no stage table, only the pipeline call.

A variant whose ONTOP_GPU_* setting gpu_worker/config.py does not read yet is reported as "not
available" instead of run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from gpu_worker import config as config_module
from gpu_worker import workflow as workflow_module
from gpu_worker.config import DiffusionSettings, OpenAISettings, WorkerConfig, WorkerConfigError
from gpu_worker.contract import JobSpec
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry, ensure_tiny_model, model_role, resolve_device
from gpu_worker.runtime import Runtime, enable_tf32
from gpu_worker.storage import LocalStorage
from gpu_worker.workflow import RegisteredWorkflow, model_roles, registered_workflows, served_workflows

# Files a variant needs, made once under `<model dir>/bench` (see `bench_file`).
FAST_LORA = "{fast_lora}"
TINY_VAE = "{tiny_vae}"


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)  # ONTOP_GPU_<NAME> → value
    cuda_only: bool = False
    plain: bool = False
    about: str = ""

    @property
    def needs(self) -> tuple[str, ...]:
        """The settings gpu_worker/config.py must read for this variant to mean anything."""
        return tuple(self.env)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("plain", plain=True, about="diffusers pipeline call as documented, nothing of ours"),
        Variant("ours", about="the workflow with the ambient ONTOP_GPU_* settings (production's)"),
        Variant("channels_last", {"CHANNELS_LAST": "true"}),
        Variant("compile", {"COMPILE_UNET": "true"}, about="torch.compile in production's default mode"),
        Variant("compile_default", {"COMPILE_UNET": "true", "COMPILE_MODE": "default"}),
        Variant(
            "compile_default_cudagraphs", {"COMPILE_UNET": "true", "COMPILE_MODE": "reduce-overhead"}, cuda_only=True
        ),
        Variant("compile_max", {"COMPILE_UNET": "true", "COMPILE_MODE": "max-autotune-no-cudagraphs"}),
        Variant("compile_max_cudagraphs", {"COMPILE_UNET": "true", "COMPILE_MODE": "max-autotune"}, cuda_only=True),
        Variant(
            "few_step",
            {"FAST_LORA": FAST_LORA, "FAST_STEPS": "4"},
            about="a random stand-in for a distilled LoRA (attention layers), 4 steps",
        ),
        Variant(
            "few_step_tiny_vae",
            {"FAST_LORA": FAST_LORA, "FAST_STEPS": "4", "TINY_VAE": TINY_VAE},
            about="few-step with the TAESD-style decoder",
        ),
        Variant("cfg_cutoff", {"CFG_CUTOFF": "0.5"}, about="classifier-free guidance off after half the steps"),
        Variant("vae_fp32", {"VAE_BF16": "false"}, about="diffusers' fp32 upcast of the stock VAE"),
        Variant("perception_fp32", {"PERCEPTION_DTYPE": "float32"}, about="detector and segmenter in fp32"),
    )
}


def parse_custom_variant(text: str) -> Variant:
    """`name:KEY=VALUE,KEY=VALUE` (KEY without the ONTOP_GPU_ prefix): a variant of your own."""
    name, _, settings = text.partition(":")
    env = {}
    for item in filter(None, settings.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            raise ValueError(f"bad setting {item!r} in custom variant {text!r} (want KEY=VALUE)")
        env[key] = value
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"bad custom variant name {name!r}")
    return Variant(name, env, about="custom")


def config_knobs() -> set[str]:
    """The ONTOP_GPU_<NAME> settings gpu_worker/config.py reads (its quoted upper-case names)."""
    return set(re.findall(r'"([A-Z][A-Z0-9_]+)"', Path(config_module.__file__).read_text()))


def unavailable_reason(variant: Variant, device: torch.device, knobs: set[str]) -> str | None:
    if variant.cuda_only and device.type != "cuda":
        return "not available: CUDA only"
    missing = [f"ONTOP_GPU_{k}" for k in variant.needs if k not in knobs]
    if missing:
        return f"not available: gpu_worker/config.py does not read {', '.join(missing)}"
    return None


# ---- timing helpers (also used by bench_portrait) ------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def _allocated(device: torch.device) -> float | None:
    return torch.cuda.memory_allocated() / 2**30 if device.type == "cuda" else None


def _timed(device: torch.device, fn):
    _sync(device)
    started = time.perf_counter()
    value = fn()
    _sync(device)
    return value, time.perf_counter() - started


class StepClock:
    """Timestamps at the end of each denoising step without synchronising (CUDA events on a GPU)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[int, Any]] = []  # (step number, event or perf_counter)

    def mark(self, step: int) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((step, event))
        else:
            self.marks.append((step, time.perf_counter()))

    def seconds_per_step(self) -> tuple[float | None, int]:
        """(s/step, steps) over every run of consecutive steps (a job may denoise more than once).
        Call after the job's final synchronisation."""
        runs: list[list[Any]] = []
        previous = None
        for step, mark in self.marks:
            if previous is None or step != previous + 1:
                runs.append([])
            runs[-1].append(mark)
            previous = step
        steps = sum(len(r) for r in runs)
        intervals = sum(len(r) - 1 for r in runs)
        if intervals == 0:
            return None, steps
        if self.cuda:
            seconds = sum(r[0].elapsed_time(r[-1]) / 1000 for r in runs if len(r) > 1)
        else:
            seconds = sum(r[-1] - r[0] for r in runs if len(r) > 1)
        return seconds / intervals, steps


class ClockedProgress(ProgressReporter):
    """The progress a job reports, with a clock mark at each denoising step it reports."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__()
        self.clock = clock

    def report(self, stage: str, percent: float, *, step: int = 0, **kwargs) -> None:
        if step > 0:
            self.clock.mark(step)
        super().report(stage, percent, step=step, **kwargs)


@contextmanager
def variant_env(env: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(f"ONTOP_GPU_{key}") for key in env}
    os.environ.update({f"ONTOP_GPU_{key}": value for key, value in env.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(f"ONTOP_GPU_{key}", None)
            else:
                os.environ[f"ONTOP_GPU_{key}"] = value


# ---- models -----------------------------------------------------------------------------------

# The dtype each role's published weights are stored in (what `from_pretrained` sees without a dtype).
# SDXL and its ControlNet are loaded with an explicit dtype by the registry; the rest are fp32 files.
PUBLISHED_DTYPE = {"inpaint": torch.float16, "txt2img": torch.float16, "pose_control": torch.float16}


def save_model(model: Any, target: Path) -> None:
    """Write a built model the way its real weights are laid out, for the registry's own loaders."""
    target.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "processor") and hasattr(model, "model"):  # Detector, PoseEstimator
        model.model.save_pretrained(target)
        model.processor.save_pretrained(target)
    elif hasattr(model, "save_pretrained"):  # pipelines, diffusers and transformers models
        model.save_pretrained(target)
    else:  # a plain module (RRDBNet): one safetensors file
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(target / "model.safetensors"))


def _build_full(role: str, device: torch.device) -> Any:
    return model_role(role).build_full(PUBLISHED_DTYPE.get(role, torch.float32), device)


def prepare_full_models(
    model_dir: Path,
    roles: tuple[str, ...],
    device: torch.device,
    build: Callable[[str, torch.device], Any] = _build_full,
    *,
    folder: str = "full",
) -> dict[str, str]:
    """Model sources (role → directory) for the `real` preset: each role built and saved once."""
    sources: dict[str, str] = {}
    for role in dict.fromkeys("txt2img" if r == "trainer" else r for r in roles):
        target = model_dir / folder / role
        if not (target / ".complete").exists():
            building = target.with_name(f".{role}.building")
            shutil.rmtree(building, ignore_errors=True)
            started = time.perf_counter()
            model = build(role, device)
            save_model(model, building)
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()
            building.joinpath(".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            building.rename(target)
            print(f"# built and saved {role} in {time.perf_counter() - started:.1f}s: {target}")
        sources[role] = str(target)
    return sources


def bench_file(setup: Setup, placeholder: str) -> str:
    """A file a variant's setting points to, made once: a random LoRA of a distilled step-reducer's
    kind (attention layers of the inpainting UNet), or a TAESD-style AutoencoderTiny."""
    from gpu_worker import tiny_models

    folder = setup.model_dir / "bench"
    if placeholder == FAST_LORA:
        inpaint_dir = (
            Path(setup.sources["inpaint"])
            if setup.preset == "full"
            else ensure_tiny_model(setup.model_dir, model_role("inpaint"))
        )
        rank = 64 if setup.preset == "full" else 4
        target = folder / f"fast-lora-{setup.preset}-r{rank}.safetensors"
        if not target.exists():
            tiny_models.build_style_lora(inpaint_dir, target, seed=7, rank=rank)
        return str(target)
    if placeholder == TINY_VAE:
        target = folder / f"tiny-vae-{setup.preset}"
        if not (target / ".complete").exists():
            if setup.preset == "full":
                from diffusers import AutoencoderTiny

                AutoencoderTiny().save_pretrained(target)  # the default config is TAESD(XL)'s shape
            else:
                tiny_models.build_tiny_vae(target)
            (target / ".complete").touch()
        return str(target)
    raise ValueError(f"unknown bench file {placeholder!r}")


# ---- the benchmark ---------------------------------------------------------------------------


@dataclass
class Setup:
    preset: str  # tiny | full
    device: torch.device
    dtype: torch.dtype
    model_dir: Path
    scratch: Path
    size: int
    steps: int | None
    workflows: tuple[str, ...]
    sources: dict[str, str] = field(default_factory=dict)  # full preset: role → saved directory
    cached_perception: bool = False


@dataclass
class Sample:
    variant: str
    workflow: str
    round: int
    job_seconds: float
    stages: dict[str, float]
    seconds_per_step: float | None
    steps: int
    peak_gib: float | None


@dataclass
class VariantState:
    variant: Variant
    env: dict[str, str]
    runtime: Runtime | None = None
    plain: dict[str, Any] = field(default_factory=dict)  # role → the plain diffusers pipeline
    status: str = "ok"
    load_seconds: float = 0.0
    resident_gib: float | None = None
    kept_after_first_run_gib: float | None = None
    first_run_seconds: dict[str, float] = field(default_factory=dict)


def worker_config(setup: Setup, env: dict[str, str]) -> WorkerConfig:
    """The config `WorkerConfig.from_env` reads in a worker started with these ONTOP_GPU_* settings
    (the ambient ones, the benchmark's size and models, then the variant's), without the planner's
    OpenAI key: the planner is excluded from the figures."""
    worker_env = {
        "REDIS_URL": "redis://unused",
        "MEDIA_ROOT": str(setup.scratch),
        "S3_BUCKET": "",
        "MODEL_PRESET": "real" if setup.preset == "full" else "tiny",
        "MODEL_DIR": str(setup.model_dir),
        "DEVICE": str(setup.device),
        "DTYPE": str(setup.dtype).removeprefix("torch."),
        "WORKFLOWS": ",".join(setup.workflows),
        "WORK_PIXELS": str(setup.size * setup.size),
        **({"STEPS": str(setup.steps)} if setup.steps is not None else {}),
        **{f"MODEL_{role.upper()}": path for role, path in setup.sources.items()},
    }
    with variant_env({**worker_env, **env}):
        config = WorkerConfig.from_env()
    return replace(config, openai=OpenAISettings(None, None, "", 1, 0))


def build_runtime(
    preset: str,
    device: torch.device,
    dtype: torch.dtype,
    model_dir: Path,
    storage_dir: Path,
    *,
    size: int,
    steps: int | None,
    workflows: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Runtime:
    """A worker's runtime, loaded as production loads it: the tiny preset, or (full) the full-size
    random-weight models saved once under `<model dir>/full` and read back with the `real` preset."""
    enable_tf32(device)  # as a worker does at start (gpu_worker.runtime), for whatever stays fp32
    setup = Setup(preset, device, dtype, model_dir, storage_dir, size, steps, workflows)
    if preset == "full":
        setup.sources = prepare_full_models(model_dir, model_roles(served_workflows(workflows)), device)
    config = worker_config(setup, env or {})
    registry = ModelRegistry(config)
    with variant_env(env or {}):
        registry.warm_up(model_roles(served_workflows(workflows)))
    return Runtime(config=config, storage=LocalStorage(storage_dir), models=registry)


def _plain_role(registered: RegisteredWorkflow) -> str | None:
    return next((r for r in ("inpaint", "txt2img") if r in registered.models), None)


def load_variant(setup: Setup, variant: Variant, knobs: set[str]) -> VariantState:
    state = VariantState(variant=variant, env=dict(variant.env))
    reason = unavailable_reason(variant, setup.device, knobs)
    if reason is not None:
        state.status = reason
        return state
    state.env = {k: (bench_file(setup, v) if v in (FAST_LORA, TINY_VAE) else v) for k, v in variant.env.items()}
    _sync(setup.device)
    before = _allocated(setup.device)
    started = time.perf_counter()
    served = served_workflows(setup.workflows)
    try:
        if variant.plain:
            for registered in served.values():
                role = _plain_role(registered)
                if role is not None and role not in state.plain:
                    state.plain[role] = plain_pipeline(setup, role)
        else:
            config = worker_config(setup, state.env)
            registry = ModelRegistry(config)
            with variant_env(state.env):
                registry.warm_up(model_roles(served))
            state.runtime = Runtime(config=config, storage=LocalStorage(setup.scratch / variant.name), models=registry)
    except WorkerConfigError as exc:  # a setting this build of config.py refuses
        state.status = f"not available: {exc}"
        return state
    _sync(setup.device)
    state.load_seconds = time.perf_counter() - started
    if before is not None:
        state.resident_gib = (_allocated(setup.device) or 0.0) - before
    return state


def plain_pipeline(setup: Setup, role: str):
    from diffusers import StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline

    source = (
        Path(setup.sources[role]) if setup.preset == "full" else ensure_tiny_model(setup.model_dir, model_role(role))
    )
    cls = StableDiffusionXLInpaintPipeline if role == "inpaint" else StableDiffusionXLPipeline
    pipeline = cls.from_pretrained(source, dtype=setup.dtype, use_safetensors=True, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(setup.device)


def write_inputs(storage: LocalStorage, kind: str, inputs: dict[str, bytes | list[bytes]]) -> dict:
    keys: dict[str, str | list[str]] = {}
    for name, data in inputs.items():
        if isinstance(data, list):  # a list input (a subject's photos)
            keys[name] = [f"bench/{kind}/{name}-{i}" for i in range(len(data))]
            for key, item in zip(keys[name], data, strict=True):
                storage.write(key, item, "application/octet-stream")
        else:
            keys[name] = f"bench/{kind}/{name}"
            storage.write(keys[name], data, "application/octet-stream")
    return keys


def run_workflow(setup: Setup, state: VariantState, registered: RegisteredWorkflow, run_id: str) -> tuple[Any, Sample]:
    """One job through `jobs.execute`, with the variant's settings in the environment. Its caches
    are emptied first (a new photo: the makeover detects and segments) unless --cached-perception."""
    assert state.runtime is not None
    runtime = state.runtime
    kind = registered.kind
    params, inputs = registered.sample(setup.size)  # type: ignore[misc]
    root = setup.scratch / state.variant.name
    if not setup.cached_perception:
        shutil.rmtree(root / "cache", ignore_errors=True)
    spec = JobSpec(
        job_id=f"bench-{kind}-{state.variant.name}-{run_id}",
        kind=kind,
        output_prefix=f"bench/{kind}/out/{run_id}/",
        inputs=write_inputs(runtime.storage, kind, inputs),
        params=registered.contract.encode_params(params),
    )
    clock = StepClock(setup.device)
    # The benchmark switches settings between runs, which a worker never does: read them afresh.
    workflow_module._SETTINGS.pop(kind, None)
    _reset_peak(setup.device)
    before = _allocated(setup.device)
    with variant_env(state.env):
        result, seconds = _timed(setup.device, lambda: execute(spec, ClockedProgress(clock), runtime))
        workflow_module._SETTINGS.pop(kind, None)
    if result.error is not None:
        raise RuntimeError(f"{kind} ({state.variant.name}) failed: {result.error.code}: {result.error.message}")
    per_step, steps = clock.seconds_per_step()
    shutil.rmtree(root / "bench" / kind / "out" / run_id, ignore_errors=True)  # full-size results are large
    return result, Sample(
        variant=state.variant.name,
        workflow=kind,
        round=0,
        job_seconds=seconds,
        stages=dict(result.timings),
        seconds_per_step=per_step,
        steps=steps,
        peak_gib=_own_peak(setup.device, before, state.resident_gib),
    )


def _own_peak(device: torch.device, before: float | None, resident: float | None) -> float | None:
    peak = _peak(device)
    if peak is None or before is None:
        return None
    return (resident or 0.0) + peak - before


def run_plain(setup: Setup, state: VariantState, registered: RegisteredWorkflow, call: dict) -> Sample:
    """The diffusers pipeline as its documentation calls it, with the workflow's steps and prompt."""
    from gpu_worker.images import decode_rgb
    from gpu_worker.stages.normalise import normalise, sdxl_bucket

    role = _plain_role(registered)
    assert role is not None
    pipeline = state.plain[role]
    clock = StepClock(setup.device)

    def on_step_end(pipe, step, timestep, callback_kwargs):
        clock.mark(step + 1)
        return callback_kwargs

    arguments: dict[str, Any] = {}
    if role == "inpaint":
        _, inputs = registered.sample(setup.size)  # type: ignore[misc]
        photo = next(v for v in inputs.values() if isinstance(v, bytes))
        work, _ = normalise(decode_rgb(photo), target_pixels=setup.size * setup.size)
        mask = Image.new("L", work.size, 0)
        mask.paste(255, (0, work.height // 2, work.width, work.height))
        arguments = {"image": work, "mask_image": mask, "strength": call["strength"]}
        width, height = work.size
    else:
        width, height = sdxl_bucket(4, 3, setup.size * setup.size)
    _reset_peak(setup.device)
    before = _allocated(setup.device)
    _, seconds = _timed(
        setup.device,
        lambda: pipeline(
            prompt=call["prompt"],
            negative_prompt=call["negative_prompt"],
            num_inference_steps=call["steps"],
            guidance_scale=call["guidance"],
            width=width,
            height=height,
            generator=torch.Generator().manual_seed(0),
            callback_on_step_end=on_step_end,
            **arguments,
        ).images[0],
    )
    per_step, steps = clock.seconds_per_step()
    return Sample(
        variant=state.variant.name,
        workflow=registered.kind,
        round=0,
        job_seconds=seconds,
        stages={"pipeline_call": seconds},
        seconds_per_step=per_step,
        steps=steps,
        peak_gib=_own_peak(setup.device, before, state.resident_gib),
    )


def _plain_call(data: dict, diffusion: DiffusionSettings) -> dict:
    """The call the workflow made (its result says), or the defaults before any workflow ran. With a
    strength below 1 diffusers runs int(steps × strength) steps: `plain` asks for as many steps as
    make it denoise exactly as many as the workflow did, so the two do the same work."""
    strength = float(data.get("strength") or 1.0)
    executed = int(data.get("executed_steps") or data.get("steps") or diffusion.steps)
    steps = executed
    while min(int(steps * strength), steps) < executed:
        steps += 1
    return {
        "prompt": data.get("prompt") or "a tidy desk with a lamp and a plant",
        "negative_prompt": data.get("negative_prompt") or "",
        "steps": steps,
        "guidance": float(data.get("guidance") or diffusion.guidance),
        "strength": strength,
    }


@dataclass
class BenchResult:
    setup: Setup
    states: dict[str, VariantState]
    samples: list[Sample]
    order: list[tuple[int, str, str]]  # (round, workflow, variant) of every timed run
    rounds: int


def run_benchmark(
    setup: Setup,
    variant_names: list[str],
    *,
    repeat: int,
    warmup: int = 1,
    custom: dict[str, Variant] | None = None,
    time_limit: float | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    log = log or (lambda line: print(line, flush=True))  # partial figures survive a killed run
    known = {**VARIANTS, **(custom or {})}
    knobs = config_knobs()
    served = {k: w for k, w in served_workflows(setup.workflows).items() if w.sample is not None}
    states: dict[str, VariantState] = {}
    for name in variant_names:
        states[name] = load_variant(setup, known[name], knobs)
        state = states[name]
        log(f"# {name}: {state.status}" + (f", loaded in {state.load_seconds:.1f}s" if state.status == "ok" else ""))
    active = [s for s in states.values() if s.status == "ok"]
    # In the warm-up, workflow variants go first: `plain` copies the call the workflow made.
    warm_order = [s for s in active if not s.variant.plain] + [s for s in active if s.variant.plain]
    calls: dict[str, dict] = {}
    defaults = worker_config(setup, {}).diffusion
    samples: list[Sample] = []
    order: list[tuple[int, str, str]] = []
    started = time.perf_counter()
    rounds_done = 0
    for round_number in range(warmup + repeat):
        timed = round_number >= warmup
        if timed and time_limit is not None and rounds_done and time.perf_counter() - started > time_limit:
            log(f"# time limit reached: {rounds_done} timed rounds instead of {repeat}")
            break
        for kind, registered in served.items():
            for state in active if timed else warm_order:
                if state.variant.plain and _plain_role(registered) is None:
                    continue
                if state.variant.plain:
                    sample = run_plain(setup, state, registered, _plain_call(calls.get(kind, {}), defaults))
                else:
                    before = _allocated(setup.device)
                    result, sample = run_workflow(setup, state, registered, f"r{round_number}")
                    calls.setdefault(kind, {**(result.data or {}), "executed_steps": sample.steps})
                    if not timed and before is not None:
                        kept = (_allocated(setup.device) or 0.0) - before
                        state.kept_after_first_run_gib = (state.kept_after_first_run_gib or 0.0) + kept
                if not timed:
                    state.first_run_seconds[kind] = sample.job_seconds
                    continue
                sample.round = round_number - warmup + 1
                per_step = f"{sample.seconds_per_step:.4f}" if sample.seconds_per_step is not None else "-"
                log(f"# round {sample.round} {kind} {state.variant.name}: {sample.job_seconds:.3f}s, s/step {per_step}")
                samples.append(sample)
                order.append((sample.round, kind, state.variant.name))
        if timed:
            rounds_done += 1
    return BenchResult(setup=setup, states=states, samples=samples, order=order, rounds=rounds_done)


# ---- reporting --------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(result: BenchResult) -> dict:
    """Medians with min and max per workflow and variant; the stage names are the workflow's own."""
    workflows: dict[str, dict] = {}
    kinds = list(dict.fromkeys(s.workflow for s in result.samples))
    for kind in kinds:
        variants: dict[str, dict] = {}
        # In order of first appearance over the runs (stages in background threads end in any order).
        stage_names = list(
            dict.fromkeys(
                n
                for s in result.samples
                if s.workflow == kind and not result.states[s.variant].variant.plain
                for n in s.stages
            )
        )
        for name, state in result.states.items():
            samples = [s for s in result.samples if s.workflow == kind and s.variant == name]
            if state.status != "ok" or not samples:
                variants[name] = {"status": state.status if state.status != "ok" else "not run"}
                continue
            names = list(dict.fromkeys(n for s in samples for n in s.stages))
            per_step = [s.seconds_per_step for s in samples if s.seconds_per_step is not None]
            peaks = [s.peak_gib for s in samples if s.peak_gib is not None]
            variants[name] = {
                "status": "ok",
                "plain": state.variant.plain,
                "env": state.env,
                "about": state.variant.about,
                "runs": len(samples),
                "job_seconds": spread([s.job_seconds for s in samples]),
                "stages": {n: spread([s.stages.get(n, 0.0) for s in samples]) for n in names},
                "seconds_per_step": spread(per_step) if per_step else None,
                "steps": statistics.median(s.steps for s in samples),
                "peak_gib": max(peaks) if peaks else None,
                "resident_gib": state.resident_gib,
                "kept_after_first_run_gib": state.kept_after_first_run_gib,
                "load_seconds": state.load_seconds,
                "first_run_seconds": state.first_run_seconds.get(kind),
                "samples": [
                    {
                        "round": s.round,
                        "job_seconds": s.job_seconds,
                        "stages": s.stages,
                        "seconds_per_step": s.seconds_per_step,
                        "steps": s.steps,
                        "peak_gib": s.peak_gib,
                    }
                    for s in samples
                ],
            }
        workflows[kind] = {"stages": stage_names, "variants": variants}
    return workflows


def _fmt(entry: dict | None, digits: int = 3) -> str:
    if not entry:
        return "-"
    return f"{entry['median']:.{digits}f} ({entry['min']:.{digits}f}–{entry['max']:.{digits}f})"


def _gib(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def markdown(result: BenchResult, workflows: dict) -> str:
    setup = result.setup
    lines: list[str] = []
    for kind, table in workflows.items():
        variants = table["variants"]
        lines.append(f"#### {kind}: variants (median (min–max) of {result.rounds}, interleaved)\n")
        lines.append(
            "| variant | job s | pipeline s | s/step | steps | vs plain | resident GiB | peak GiB | first run s |"
        )
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        plain = variants.get("plain", {})
        plain_step = (plain.get("seconds_per_step") or {}).get("median") if plain.get("status") == "ok" else None
        pipeline_stage = {"desk_makeover": "inpaint", "picture_diary": "txt2img"}.get(kind)
        for name, row in variants.items():
            if row["status"] != "ok":
                lines.append(f"| {name} | {row['status']} | | | | | | | |")
                continue
            stage = "pipeline_call" if row["plain"] else pipeline_stage
            step = row["seconds_per_step"]
            speed = f"{plain_step / step['median']:.2f}x" if plain_step and step else "-"
            first = row["first_run_seconds"]
            lines.append(
                f"| {name} | {_fmt(row['job_seconds'])} | {_fmt(row['stages'].get(stage))} | {_fmt(step, 4)} "
                f"| {row['steps']:g} | {speed} | {_gib(row['resident_gib'])} | {_gib(row['peak_gib'])} "
                f"| {f'{first:.1f}' if first is not None else '-'} |"
            )
        columns = [n for n, row in variants.items() if row["status"] == "ok" and not row["plain"]]
        if columns and table["stages"]:
            lines.append(f"\n#### {kind}: stages, seconds (median (min–max) of {result.rounds})\n")
            lines.append("| stage | " + " | ".join(columns) + " |")
            lines.append("| --- |" + " ---: |" * len(columns))
            for stage in table["stages"]:
                cells = [_fmt(variants[c]["stages"].get(stage)) for c in columns]
                lines.append(f"| {stage} | " + " | ".join(cells) + " |")
            cells = [_fmt(variants[c]["job_seconds"]) for c in columns]
            lines.append("| **job (synchronised)** | " + " | ".join(cells) + " |")
        lines.append("")
    order = ", ".join(f"{v}" for _, _, v in result.order[: 2 * len(result.states) + 2])
    lines.append(f"Run order (first timed runs): {order}, ...")
    if setup.device.type != "cuda":
        lines.append("Peak and resident VRAM: - on CPU.")
    return "\n".join(lines)


def style_switch(result: BenchResult, *, repeats: int = 5) -> dict[str, Any] | str:
    """Style switch times per variant with an inpainting pipeline, measured by
    `gpu_worker.bench_hotswap.hotswap_measure`: two random full-rank-shaped styles, switched A, B,
    A, B, ... with a short paint after each switch, so that any recompilation shows in the count."""
    from dataclasses import asdict

    try:
        from gpu_worker.bench_hotswap import hotswap_measure, random_style_loras
    except ImportError:
        return "not available: gpu_worker/bench_hotswap.py has no hotswap_measure"
    from gpu_worker.stages.inpaint import inpaint

    figures: dict[str, Any] = {}
    setup = result.setup
    from gpu_worker.stages.normalise import sdxl_bucket

    work = Image.new("RGB", sdxl_bucket(4, 3, setup.size * setup.size), (181, 136, 99))
    mask = Image.new("L", work.size, 0)
    mask.paste(255, (0, work.height // 2, work.width, work.height))
    for name, state in result.states.items():
        runtime = state.runtime
        if runtime is None or "inpaint" not in runtime.models.loaded():
            continue
        pipeline = runtime.models.get("inpaint")

        def paint(pipeline=pipeline) -> object:
            return inpaint(
                pipeline,
                image=work,
                mask=mask,
                prompt="a desk",
                negative_prompt="",
                steps=2,
                guidance=5.0,
                strength=1.0,
                seed=0,
            )

        with variant_env(state.env):
            styles = random_style_loras(pipeline, runtime.storage, count=2, key_prefix=f"bench/hotswap/{name}/")
            measured = hotswap_measure(pipeline, runtime.loras(pipeline), styles, repeats=repeats, paint=paint)
        figures[name] = asdict(measured)
    return figures or "not measured: no variant with an inpainting pipeline"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_worker.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument(
        "--workflows", default="desk_makeover", help="comma-separated kinds, or 'all' (those with a sample job)"
    )
    parser.add_argument("--size", type=int, default=None, help="work size (square area); default 160 tiny, 1024 full")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the preset's, 4 / 30)")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds, variants interleaved (medians)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (compilation, allocations)")
    parser.add_argument("--variants", default="plain,ours", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument(
        "--custom", action="append", default=[], help="a variant of your own: name:KEY=VALUE,KEY=VALUE (repeatable)"
    )
    parser.add_argument("--cached-perception", action="store_true", help="reuse perception (a 'new variation')")
    parser.add_argument("--time-limit", type=float, default=None, help="stop timed rounds after this many seconds")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    parser.add_argument("--model-dir", default=os.environ.get("ONTOP_GPU_MODEL_DIR", "var/models"))
    parser.add_argument("--style-switch", action="store_true", help="also measure the style switch (bench_hotswap)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    custom = {}
    for text in args.custom:
        try:
            variant = parse_custom_variant(text)
        except ValueError as exc:
            parser.error(str(exc))
        custom[variant.name] = variant
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS) - set(custom)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))} (known: {', '.join(VARIANTS)})")
    if args.workflows == "all":
        wanted = [k for k, w in registered_workflows().items() if w.sample is not None]
    else:
        wanted = [w for w in args.workflows.split(",") if w]
    missing = set(wanted) - set(registered_workflows())
    if missing:
        parser.error(f"unknown workflows: {', '.join(sorted(missing))}")

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    enable_tf32(device)  # as a worker does at start: production's fp32 matmuls use TF32 on CUDA
    dtype = (
        (torch.float16 if device.type == "cuda" else torch.float32)
        if args.dtype == "auto"
        else getattr(torch, args.dtype)
    )
    size = args.size or (1024 if args.preset == "full" else 160)
    print(f"# OnTop GPU benchmark: preset={args.preset} size={size}² device={device} dtype={dtype}")
    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}"
    )
    if device.type == "cuda":
        print(f"# GPU: {torch.cuda.get_device_name()}")
    scratch = Path(tempfile.mkdtemp(prefix="ontop-bench-"))
    setup = Setup(
        preset=args.preset,
        device=device,
        dtype=dtype,
        model_dir=Path(args.model_dir).resolve(),
        scratch=scratch,
        size=size,
        steps=args.steps,
        workflows=tuple(wanted),
        cached_perception=args.cached_perception,
    )
    if args.preset == "full":
        roles = model_roles(served_workflows(setup.workflows))
        setup.sources = prepare_full_models(setup.model_dir, roles, device)
    try:
        result = run_benchmark(
            setup, variants, repeat=args.repeat, warmup=args.warmup, custom=custom, time_limit=args.time_limit
        )
        workflows = summarise(result)
        print()
        print(markdown(result, workflows))
        switch = style_switch(result) if args.style_switch else "not measured (--style-switch)"
        print(f"\nstyle switch: {json.dumps(switch, indent=2) if isinstance(switch, dict) else switch}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak process RSS: {peak_rss:.2f} GiB")
    if args.json:
        report = {
            "preset": args.preset,
            "size": size,
            "device": torch.cuda.get_device_name() if device.type == "cuda" else str(device),
            "dtype": str(dtype).removeprefix("torch."),
            "torch": torch.__version__,
            "repeat": result.rounds,
            "order": result.order,
            "workflows": workflows,
            "style_switch": switch,
            "peak_rss_gib": peak_rss,
        }
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
