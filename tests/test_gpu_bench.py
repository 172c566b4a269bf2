"""The benchmark runs every registered workflow end to end (tiny preset, few steps) and the call variants."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BASE_DIR

pytestmark = pytest.mark.slow


def test_benchmark_runs_the_registered_workflows_and_the_variants(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_worker.bench",
            "--steps",
            "2",
            "--repeat",
            "1",
            "--variants",
            "plain,ours",
            "--json",
            str(out),
            "--model-dir",
            os.environ["ONTOP_GPU_MODEL_DIR"],
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "## desk_makeover (2 steps, median of 1)" in done.stdout
    assert "## txt2img 192x128, 2 steps (median of 1, interleaved)" in done.stdout
    assert "## picture_diary (2 steps, median of 1)" in done.stdout
    assert "| ours |" in done.stdout
    report = json.loads(out.read_text())
    assert set(report["workflows"]) == {
        "desk_makeover",
        "one_photo_profile",
        "picture_diary",
        "pose_extract",
        "preview",
        "subject_photo_check",
        "subject_training",
    }
    assert list(report["workflows"]["subject_training"]) == ["prepare", "train", "save", "total"]
    desk = report["workflows"]["desk_makeover"]
    assert list(desk)[:4] == ["load", "perception_cache", "plan", "mask"], "the perception is cached after warm-up"
    assert list(report["workflows"]["picture_diary"]) == ["write_prompt", "txt2img", "upscale", "save", "total"]
    assert list(report["workflows"]["one_photo_profile"]) == [
        "find",
        "backdrop",
        "clothing",
        "detail",
        "grade",
        "upscale",
        "save",
        "total",
    ]
    assert [r["name"] for r in report["variants"]["inpaint"]["2"]] == ["plain", "ours"]
    assert [r["name"] for r in report["variants"]["txt2img"]["2"]] == ["plain", "ours"]
    assert all(r["seconds"] > 0 for rows in report["variants"].values() for r in rows["2"])


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
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "## training, 64², batch 1 (median of 1, interleaved)" in done.stdout
    report = json.loads(out.read_text())
    assert [row["variant"] for row in report["rows"]] == ["default", "rank8"]
    assert all(row["step_seconds"] > 0 and row["peak_gib"] is None for row in report["rows"])


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
