"""The benchmark: the registered workflow run as a worker runs it, variants interleaved on fresh models,
medians of the recorded samples; and the training and portrait benchmarks end to end."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpu_worker.bench import (
    VARIANTS,
    Setup,
    Variant,
    markdown,
    prepare_full_models,
    run_benchmark,
    summarise,
    unavailable_reason,
)
from gpu_worker.config import DiffusionSettings, OpenAISettings, WorkerConfig
from gpu_worker.registry import Detector, ModelRegistry
from gpu_worker.rrdbnet import RRDBNet
from tests.conftest import BASE_DIR

DESK = "desk_makeover"
# One torch thread for the benchmarks in subprocesses: on the shared 2-core test machine two OpenMP
# threads spin against the other jobs and run several times slower (the portrait one passed 600 s).
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return Path(os.environ["ONTOP_GPU_MODEL_DIR"])


@pytest.fixture(scope="module")
def bench(model_dir, tmp_path_factory):
    """Two variants x 2 rounds (after a warm-up) of the desk makeover on the tiny preset, and one
    variant whose setting config.py does not read."""
    setup = Setup(
        preset="tiny",
        device=torch.device("cpu"),
        dtype=torch.float32,
        model_dir=model_dir,
        scratch=tmp_path_factory.mktemp("bench"),
        size=160,
        steps=3,
        workflows=(DESK,),
    )
    nope = Variant("nope", {"NO_SUCH_SETTING": "1"})
    # One thread: on this shared 2-core machine two OpenMP threads spin against the other jobs and
    # run several times slower. The test checks the bookkeeping, not the speed.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_benchmark(
            setup, ["channels_last", "ours", "nope"], repeat=2, warmup=1, custom={"nope": nope}, log=lambda _: None
        )
    finally:
        torch.set_num_threads(threads)
    return result, summarise(result)


def test_variants_run_interleaved_after_the_warm_up(bench):
    result, _ = bench
    assert result.order == [
        (1, DESK, "channels_last"),
        (1, DESK, "ours"),
        (2, DESK, "channels_last"),
        (2, DESK, "ours"),
    ]
    assert [(s.round, s.variant) for s in result.samples] == [(r, v) for r, _, v in result.order]
    assert result.rounds == 2
    assert set(result.states["ours"].first_run_seconds) == {DESK}  # the warm-up ran, untimed


def test_medians_min_and_max_are_those_of_the_recorded_samples(bench):
    result, workflows = bench
    for name in ("channels_last", "ours"):
        row = workflows[DESK]["variants"][name]
        samples = [s for s in result.samples if s.variant == name]
        assert row["runs"] == 2
        jobs = [s.job_seconds for s in samples]
        assert row["job_seconds"] == {"median": statistics.median(jobs), "min": min(jobs), "max": max(jobs)}
        for stage, entry in row["stages"].items():
            values = [s.stages[stage] for s in samples]
            assert entry == {"median": statistics.median(values), "min": min(values), "max": max(values)}
        per_step = [s.seconds_per_step for s in samples]
        assert row["seconds_per_step"]["median"] == statistics.median(per_step)
        assert [s["job_seconds"] for s in row["samples"]] == jobs


def test_the_stage_table_is_the_workflows_own_timing_keys(bench):
    result, workflows = bench
    table = workflows[DESK]
    # Stages that run beside the main line (background threads) may finish in either order.
    keys = [set(s.stages) for s in result.samples]
    assert all(k == keys[0] for k in keys), "every run times the same stages"
    assert table["stages"] == list(dict.fromkeys(n for s in result.samples for n in s.stages))
    assert set(table["stages"]) == keys[0]
    assert {"detect", "segment", "inpaint"} <= keys[0], "a new photo each run: perception is not cached"
    for name in ("channels_last", "ours"):
        assert set(table["variants"][name]["stages"]) == keys[0]
    text = markdown(result, workflows)
    section = text.split(f"#### {DESK}: stages")[1].split("\n\n")[1].splitlines()
    rows = [line.split(" | ")[0].removeprefix("| ") for line in section[2:]]
    assert rows == [*table["stages"], "**job (synchronised)**"]
    assert section[0] == "| stage | channels_last | ours |"


def test_each_variant_has_its_own_models_and_steps_are_timed_alike(bench):
    result, _ = bench
    converted = result.states["channels_last"].runtime.models.get("inpaint").unet
    stock = result.states["ours"].runtime.models.get("inpaint").unet
    assert converted is not stock
    assert converted.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert not converted.conv_in.weight.is_contiguous()
    assert stock.conv_in.weight.is_contiguous()
    assert not stock.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    steps = {s.steps for s in result.samples}
    assert len(steps) == 1
    assert steps.pop() >= 2
    assert all(s.seconds_per_step > 0 and s.peak_gib is None for s in result.samples)


def test_a_setting_config_does_not_read_is_reported_not_run(bench):
    result, workflows = bench
    reason = "not available: gpu_worker/config.py does not read ONTOP_GPU_NO_SUCH_SETTING"
    assert result.states["nope"].status == reason
    assert workflows[DESK]["variants"]["nope"] == {"status": reason}
    assert f"| nope | {reason} |" in markdown(result, workflows)
    cpu = torch.device("cpu")
    assert unavailable_reason(VARIANTS["compile_max_cudagraphs"], cpu, {"COMPILE_UNET", "COMPILE_MODE"}) == (
        "not available: CUDA only"
    )
    assert unavailable_reason(VARIANTS["channels_last"], cpu, {"CHANNELS_LAST"}) is None


def test_saved_models_load_back_through_the_production_loaders(model_dir, tmp_path):
    """The full preset's path (build, save, load with the `real` preset) on tiny models."""
    common = {
        "redis_url": "redis://unused",
        "media_root": tmp_path,
        "s3_bucket": None,
        "s3_endpoint_url": None,
        "model_dir": model_dir,
        "device": "cpu",
        "dtype": "float32",
        "openai": OpenAISettings(None, None, "", 1, 0),
    }
    tiny = ModelRegistry(WorkerConfig(model_preset="tiny", diffusion=DiffusionSettings.from_env("tiny"), **common))
    roles = ("inpaint", "detector", "segmenter", "upscaler")
    sources = prepare_full_models(tmp_path, roles, torch.device("cpu"), lambda role, device: tiny.get(role))
    assert sources == {role: str(tmp_path / "full" / role) for role in roles}
    real = ModelRegistry(
        WorkerConfig(model_preset="real", model_sources=sources, diffusion=DiffusionSettings.from_env("tiny"), **common)
    )
    for role, part in (("inpaint", "unet"), ("detector", "model"), ("segmenter", None), ("upscaler", None)):
        loaded, original = real.get(role), tiny.get(role)
        if part is not None:
            loaded, original = getattr(loaded, part), getattr(original, part)
        assert type(loaded) is type(original)
        pairs = zip(loaded.state_dict().items(), original.state_dict().items(), strict=True)
        assert all(a[0] == b[0] and torch.equal(a[1], b[1]) for a, b in pairs), role
    assert isinstance(real.get("detector"), Detector)
    assert isinstance(real.get("upscaler"), RRDBNet)


@pytest.mark.slow
def test_the_training_benchmark_measures_each_variant_side_by_side(tmp_path):
    out = tmp_path / "training.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_worker.bench_training",
            "--variants",
            "default,rank8",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--repeat",
            "1",
            "--examples",
            "2",
            "--resolution",
            "64",
            "--json",
            str(out),
        ],
        cwd=BASE_DIR,
        env=ONE_THREAD,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "## training, 64², batch 1 (median of 1, interleaved)" in done.stdout
    report = json.loads(out.read_text())
    assert [row["variant"] for row in report["rows"]] == ["default", "rank8"]
    assert all(row["step_seconds"] > 0 and row["peak_gib"] is None for row in report["rows"])


@pytest.mark.slow
def test_the_portrait_benchmark_measures_pictures_packs_stages_and_the_adapter_switch():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_worker.bench_portrait",
            "--repeat",
            "1",
            "--pack",
            "2",
            "--model-dir",
            os.environ["ONTOP_GPU_MODEL_DIR"],
        ],
        cwd=BASE_DIR,
        env=ONE_THREAD,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert (report["preset"], report["steps"], report["pack"], report["repeat"]) == ("tiny", 3, 2, 1)
    assert list(report["medians"]) == ["pose", "no_pose", "pack"]
    assert list(report["medians"]["pose"]) == [
        "write_prompt",
        "paint",
        "detail_face",
        "filter",
        "grade",
        "upscale",
        "save",
        "total",
    ]
    assert set(report["adapter"]) == {"first_load_ms", "switch_ms"}
    assert "picture (with pose):" in done.stdout
    assert "adapter: first load" in done.stdout
