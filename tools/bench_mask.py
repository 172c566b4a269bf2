"""The desk mask's dilation: torch's 2-D max-pool (before) against our separable one (after),
interleaved, on a 1152x896 mask with a 47x47 window, and checked identical.

    PYTHONPATH=. .venv/bin/python tools/bench_mask.py
"""

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from gpu_worker.workflows.desk_makeover.mask import _grow

RADIUS = 23  # a 47x47 window


def pool2d(mask: np.ndarray) -> np.ndarray:
    tensor = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(tensor, 2 * RADIUS + 1, stride=1, padding=RADIUS)[0, 0].numpy() > 0.5


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    mask = np.zeros((896, 1152), bool)
    for _ in range(12):
        y, x = rng.integers(0, 896), rng.integers(0, 1152)
        mask[y : y + 120, x : x + 160] = True
    before, after = [], []
    for _ in range(5):
        started = time.perf_counter()
        old = pool2d(mask)
        before.append(time.perf_counter() - started)
        started = time.perf_counter()
        new = _grow(mask, RADIUS)
        after.append(time.perf_counter() - started)
        assert np.array_equal(old, new)
    for name, seconds in (("2-D max-pool", before), ("separable", after)):
        print(f"{name}: median {statistics.median(seconds):.4f} s (min {min(seconds):.4f}, max {max(seconds):.4f})")
    print("identical: True")


if __name__ == "__main__":
    main()
