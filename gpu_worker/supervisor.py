"""One worker process per GPU: `python -m gpu_worker --gpus 0,1,2,3` (or `--gpus all`).

Each child is `python -m gpu_worker` pinned with CUDA_VISIBLE_DEVICES. A child that exits
(recycled after ONTOP_GPU_MAX_JOBS jobs, or crashed) is started again after a short backoff;
SIGINT/SIGTERM stop them all (RQ's warm shutdown lets a running job finish).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

logger = logging.getLogger("gpu_worker.supervisor")
RESTART_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
STOP_GRACE_SECONDS = 60


def visible_gpus(spec: str) -> list[str]:
    if spec != "all":
        return [g.strip() for g in spec.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def supervise(gpus: list[str], extra_args: list[str], *, restart: bool = True) -> int:
    """Run and watch the children; with restart=False (burst mode) return once all have finished."""
    if not gpus:
        print("gpu_worker: no GPUs to serve (--gpus)", file=sys.stderr)
        return 2
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children: dict[str, subprocess.Popen] = {}
    failures: dict[str, int] = dict.fromkeys(gpus, 0)

    def start(gpu: str) -> None:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu)
        children[gpu] = subprocess.Popen(
            [sys.executable, "-m", "gpu_worker", "--name-suffix", f"gpu{gpu}", *extra_args], env=env
        )
        logger.info("started worker for GPU %s (pid %s)", gpu, children[gpu].pid)

    for gpu in gpus:
        start(gpu)
    while not stopping:
        time.sleep(0.5)
        if not restart and all(child.poll() is not None for child in children.values()):
            return max(child.returncode for child in children.values())
        for gpu, child in list(children.items()):
            code = child.poll()
            if code is None or stopping or not restart:
                continue
            failures[gpu] = 0 if code == 0 else failures[gpu] + 1
            delay = RESTART_BACKOFF_SECONDS[min(failures[gpu], len(RESTART_BACKOFF_SECONDS) - 1)] if code else 0
            logger.warning("worker for GPU %s exited with %s; restarting in %ss", gpu, code, delay)
            time.sleep(delay)
            start(gpu)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0
