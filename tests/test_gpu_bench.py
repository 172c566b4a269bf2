"""The benchmark runs end to end (tiny preset, few steps) and reports every stage and variant."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import BASE_DIR

pytestmark = pytest.mark.slow


def test_benchmark_runs_and_reports_stages_and_variants(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpu_worker.bench",
            "--steps",
            "2",
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
    assert "| inpaint (2 steps) |" in done.stdout
    assert "| ours |" in done.stdout
    report = json.loads(out.read_text())
    stage_names = [s["name"] for s in report["stages"]]
    assert stage_names[:3] == ["normalise", "detect", "segment"]
    assert stage_names[-1] == "total"
    rows = report["inpaint"]["2"]
    assert [r["name"] for r in rows] == ["plain", "ours"]
    assert all(r["seconds"] > 0 for r in rows)
