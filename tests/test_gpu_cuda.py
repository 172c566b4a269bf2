"""Checks only a CUDA machine can make. Marked `gpu`: skipped by default, run with `-m gpu`."""

import pytest

pytestmark = pytest.mark.gpu


def test_cuda_out_of_memory_fails_only_that_job_and_the_worker_keeps_serving(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.fail("this test needs CUDA (run it on the GPU machine)")
    from gpu_worker.contract import ErrorCode, JobSpec, encode
    from gpu_worker.contract.desk_makeover import DeskParams
    from gpu_worker.jobs import execute
    from gpu_worker.progress import ProgressReporter
    from gpu_worker.runtime import runtime
    from tests.photos import make_desk_photo

    monkeypatch.setenv("ONTOP_GPU_DEVICE", "cuda")
    monkeypatch.setenv("ONTOP_GPU_MEDIA_ROOT", str(tmp_path))
    runtime.cache_clear()
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "desk.jpg").write_bytes(make_desk_photo())
    spec = JobSpec(
        job_id="oom",
        kind="desk_makeover",
        inputs={"photo": "uploads/desk.jpg"},
        output_prefix="results/oom/",
        params=encode(DeskParams(seed=0)),
    )
    free, _total = torch.cuda.mem_get_info()
    hog = torch.empty(int(free * 0.98), dtype=torch.uint8, device="cuda")  # leave almost nothing
    result = execute(spec, ProgressReporter())
    del hog
    assert result.error is not None
    assert result.error.code == ErrorCode.OUT_OF_MEMORY
    again = execute(
        JobSpec(**{**spec.__dict__, "job_id": "after", "output_prefix": "results/after/"}), ProgressReporter()
    )
    assert again.error is None, "the same process serves the next job"
