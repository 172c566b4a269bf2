"""Benchmark profile portraits: seconds per picture and per pack, what each pass costs, and the
adapter switch between two people. Variants side by side in one run (interleaved, repeated, medians).

    python -m gpu_worker.bench_portrait                                   # tiny models on CPU (a smoke figure)
    python -m gpu_worker.bench_portrait --preset full --size 1024 --steps 30 --repeat 3   # on a GPU

`full` builds the real architectures (SDXL, the SDXL ControlNet, Grounding DINO, SAM 2, RRDBNet) with
random weights, saves them once under `<model dir>/full` and loads them through the registry with the
`real` preset, in the dtypes production uses (gpu_worker.bench.build_runtime): real speed and memory,
nothing downloaded. The two "people" are personal models
made by one pivotal-tuning step each on the same base (their LoRA has the recipe's rank and
targets, so loading and switching cost what a real one costs).

Each round runs, interleaved: the full chain with a pose (pose → face fix → filter → face fix →
grade → upscale), the same without the pose, and a pack of `--pack` pictures (new seeds, the same
person, as a pack runs on one worker). The stage shares come from the jobs' own stage timings.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gpu_worker.bench import _peak, _reset_peak, _sync, _timed, build_runtime
from gpu_worker.contract import JobSpec, LoraSpec
from gpu_worker.contract.portrait import CONTRACT, ConceptSpec, PersonalModelSpec, PortraitParams, PoseSpec
from gpu_worker.contract.subject_training import TOKENS
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import resolve_device
from gpu_worker.runtime import Runtime

FRONT_POSE = [
    [0.5, 0.3, 1],
    [0.5, 0.45, 1],
    [0.35, 0.45, 1],
    [0.3, 0.7, 1],
    [0.3, 0.9, 1],
    [0.65, 0.45, 1],
    [0.7, 0.7, 1],
    [0.7, 0.9, 1],
    [0.4, 0.95, 1],
    [0, 0, 0],
    [0, 0, 0],
    [0.6, 0.95, 1],
    [0, 0, 0],
    [0, 0, 0],
    [0.47, 0.27, 1],
    [0.53, 0.27, 1],
    [0.43, 0.29, 1],
    [0.57, 0.29, 1],
]


def make_person(
    runtime: Runtime, name: str, colour: tuple[int, int, int], *, resolution: int, preset: str = "tiny"
) -> PersonalModelSpec:
    """One pivotal-tuning step on the worker's own base: a personal model of the real shape."""
    import hashlib

    from gpu_worker.training import PivotalTuner, TrainingExample, TrainingSettings

    pipeline = runtime.models.get("txt2img")
    cuda = runtime.models.device.type == "cuda"
    # The real preset's rank and targets on full-size models: the LoRA a switch moves is a real one.
    real = "real" if preset == "full" else "tiny"
    settings = replace(TrainingSettings.from_env(real, cuda=cuda), resolution=resolution, steps=1)
    array = np.full((resolution, resolution, 3), colour, np.uint8)
    examples = [TrainingExample(Image.fromarray(array), f"a photo of {''.join(TOKENS)} person")]
    tuner = PivotalTuner(pipeline, settings, examples, tokens=TOKENS, initializer_word="person", seed=len(name))
    tuner.train_step()
    base_model = runtime.models.identifier("txt2img")
    lora, embeddings = tuner.adapter_files(base_model=base_model)
    tuner.close()
    keys = (f"bench/people/{name}/lora.safetensors", f"bench/people/{name}/embeddings.safetensors")
    runtime.storage.write(keys[0], lora, "application/octet-stream")
    runtime.storage.write(keys[1], embeddings, "application/octet-stream")
    return PersonalModelSpec(
        lora=LoraSpec(key=keys[0], sha256=hashlib.sha256(lora).hexdigest()),
        embeddings_key=keys[1],
        embeddings_sha256=hashlib.sha256(embeddings).hexdigest(),
        tokens=list(TOKENS),
        class_word="person",
        base_model=base_model,
    )


def _spec(params: PortraitParams, job_id: str) -> JobSpec:
    return JobSpec(
        job_id=job_id, kind="portrait", output_prefix=f"bench/portrait/{job_id}/", params=CONTRACT.encode_params(params)
    )


def adapter_switch_ms(runtime: Runtime, people: list[PersonalModelSpec], *, repeat: int) -> dict[str, float]:
    """Median milliseconds of activating a person: the first time (read, check, load the LoRA), and
    switching between two people already loaded (set_adapters + two embedding rows per encoder)."""
    device = runtime.models.device
    pipeline = runtime.models.get("txt2img")
    manager = runtime.loras(pipeline)
    base_model = runtime.models.identifier("txt2img")
    for person in people:  # evict them, so the first activation below is a cold one
        name = f"person_{person.lora.sha256[:16]}"
        if name in manager.loaded:
            pipeline.delete_adapters([name])
            manager._embeddings.pop(name, None)
    manager._personal_blank()
    cold = []
    for person in people:
        _, seconds = _timed(device, lambda p=person: manager.activate(None, p, base_model=base_model))
        cold.append(seconds)
    switches = []
    for i in range(repeat * 2):
        person = people[i % 2]
        _, seconds = _timed(device, lambda p=person: manager.activate(None, p, base_model=base_model))
        switches.append(seconds)
    return {"first_load_ms": statistics.median(cold) * 1000, "switch_ms": statistics.median(switches) * 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--size", type=int, default=None, help="work size (square area); default 128 tiny, 1024 full")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps; default 3 tiny, 30 full")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pack", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--model-dir", type=Path, default=Path("var/models"))
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    dtype = (
        (torch.float16 if device.type == "cuda" else torch.float32)
        if args.dtype == "auto"
        else getattr(torch, args.dtype)
    )
    size = args.size or (128 if args.preset == "tiny" else 1024)
    steps = args.steps or (3 if args.preset == "tiny" else 30)
    storage = Path(tempfile.mkdtemp(prefix="ontop-bench-portrait-"))
    runtime = build_runtime(
        args.preset, device, dtype, args.model_dir, storage, size=size, steps=steps, workflows=("portrait",)
    )
    import os

    os.environ.setdefault("ONTOP_GPU_PORTRAIT_MAX_STEPS", str(steps))
    people = [
        make_person(runtime, name, colour, resolution=min(size, 512), preset=args.preset)
        for name, colour in (("a", (200, 40, 40)), ("b", (40, 60, 200)))
    ]
    concept = ConceptSpec(
        slug="bench", prompt_template="studio headshot photo of {subject}", steps=steps, filter_strength=0.3
    )
    pose = PoseSpec(slug="front", keypoints=FRONT_POSE, aspect=0.8)
    base = PortraitParams(subject_kind="person", model=people[0], concept=concept, seed=1, tone="warm")
    variants = {"pose": replace(base, pose=pose), "no_pose": base}

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in (*variants, "pack")}
    peak = 0.0
    for round_number in range(args.repeat + 1):
        for name, params in variants.items():
            _reset_peak(device)
            result, seconds = _timed(
                device,
                lambda p=params, job=f"{name}-{round_number}": execute(_spec(p, job), ProgressReporter(), runtime),
            )
            if result.error is not None:
                raise SystemExit(f"{name} failed: {result.error.code}: {result.error.message}")
            peak = max(peak, _peak(device) or 0.0)
            if round_number:
                runs[name].append({**result.timings, "total": seconds})
        _sync(device)
        started = time.perf_counter()
        for index in range(args.pack):
            params = replace(variants["pose"], seed=100 * round_number + index)
            result = execute(_spec(params, f"pack-{round_number}-{index}"), ProgressReporter(), runtime)
            if result.error is not None:
                raise SystemExit(f"pack failed: {result.error.code}: {result.error.message}")
        _sync(device)
        if round_number:
            runs["pack"].append({"total": time.perf_counter() - started})

    keys = {name: list(dict.fromkeys(k for s in samples for k in s)) for name, samples in runs.items()}
    medians = {
        name: {key: statistics.median(s.get(key, 0.0) for s in samples) for key in keys[name]}
        for name, samples in runs.items()
    }
    # The spread beside the medians: one noisy round shows up here, not as a wrong median.
    lowest = {name: {key: min(s.get(key, 0.0) for s in got) for key in keys[name]} for name, got in runs.items()}
    highest = {name: {key: max(s.get(key, 0.0) for s in got) for key in keys[name]} for name, got in runs.items()}
    switch = adapter_switch_ms(runtime, people, repeat=10)
    report = {
        "preset": args.preset,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "size": size,
        "steps": steps,
        "repeat": args.repeat,
        "pack": args.pack,
        "medians": medians,
        "min": lowest,
        "max": highest,
        "pose_extra_seconds": medians["pose"]["paint"] - medians["no_pose"]["paint"],
        "adapter": switch,
        "peak_vram_gib": peak if device.type == "cuda" else None,
    }
    whole = medians["pose"]["total"]
    print(f"# portrait, {args.preset} preset, {report['device']}, {report['dtype']}, {size}px work size, {steps} steps")
    print(f"picture (with pose): {whole:.3f} s   pack of {args.pack}: {medians['pack']['total']:.3f} s")
    for stage in ("write_prompt", "paint", "detail_face", "filter", "grade", "upscale", "save"):
        if stage in medians["pose"]:
            print(f"  {stage:<13} {medians['pose'][stage]:8.3f} s  {100 * medians['pose'][stage] / whole:5.1f} %")
    print(f"  pose (extra)  {report['pose_extra_seconds']:8.3f} s  {100 * report['pose_extra_seconds'] / whole:5.1f} %")
    print(
        f"adapter: first load {switch['first_load_ms']:.1f} ms, switch between two people {switch['switch_ms']:.2f} ms"
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
