"""One worker process per GPU: `python -m gpu_worker --gpus 0,1,2,3` (or `--gpus all`).

Each child is `python -m gpu_worker` pinned with CUDA_VISIBLE_DEVICES, under an RQ name the
supervisor chooses. A child that exits is started again: at once after a clean exit (recycled
after ONTOP_GPU_MAX_JOBS jobs or past its memory limit), after a backoff after a crash, and the
backoff starts over once a child has run STABLE_SECONDS. A crashed child's job is reported to the
web tier at once (`report_worker_lost`), which fails or resumes it without waiting for the
heartbeat to go silent. SIGINT/SIGTERM stop them all (RQ's warm shutdown lets a running job finish).
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
STABLE_SECONDS = 60
STOP_GRACE_SECONDS = 60
# As `make run` (ontop/devstack.py) and systemd's start limit: a worker that keeps crashing (a bad
# model path, a broken GPU) is not restarted for ever in silence; the supervisor stops, exit 1.
GIVE_UP_CRASHES = 5
GIVE_UP_WINDOW_SECONDS = 120


def visible_gpus(spec: str) -> list[str]:
    if spec != "all":
        return [g.strip() for g in spec.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _report_lost(name: str) -> None:
    """A crashed child may have died in the middle of a job: say so, by its RQ name."""
    from redis import Redis

    from gpu_worker.config import WorkerConfig, WorkerConfigError
    from gpu_worker.resilience import report_worker_lost

    try:
        url = WorkerConfig.from_env().redis_url
    except WorkerConfigError:
        return
    if report_worker_lost(Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), name):
        logger.info("reported worker %s as lost", name)


def supervise(gpus: list[str], extra_args: list[str], *, restart: bool = True) -> int:
    """Run and watch the children; with restart=False (burst mode) return once all have finished."""
    from gpu_worker.resilience import unique_worker_name

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
    names: dict[str, str] = {}
    started_at: dict[str, float] = {}
    failures: dict[str, int] = dict.fromkeys(gpus, 0)
    crashes: dict[str, list[float]] = {gpu: [] for gpu in gpus}
    gave_up = False

    def start(gpu: str) -> None:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu)
        names[gpu] = unique_worker_name(f"gpu{gpu}")
        command = [sys.executable, "-m", "gpu_worker", "--name-suffix", f"gpu{gpu}", "--name", names[gpu]]
        children[gpu] = subprocess.Popen([*command, *extra_args], env=env)
        started_at[gpu] = time.monotonic()
        logger.info("started worker %s for GPU %s (pid %s)", names[gpu], gpu, children[gpu].pid)

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
            if code != 0:
                _report_lost(names[gpu])
                now = time.monotonic()
                crashes[gpu] = [t for t in crashes[gpu] if now - t <= GIVE_UP_WINDOW_SECONDS] + [now]
                if len(crashes[gpu]) >= GIVE_UP_CRASHES:
                    logger.error(
                        "GIVING UP: the worker for GPU %s crashed %s times within %ss (last exit code %s)",
                        gpu,
                        len(crashes[gpu]),
                        GIVE_UP_WINDOW_SECONDS,
                        code,
                    )
                    gave_up = stopping = True
                    break
            if code == 0 or time.monotonic() - started_at[gpu] >= STABLE_SECONDS:
                failures[gpu] = 0
            delay = RESTART_BACKOFF_SECONDS[min(failures[gpu], len(RESTART_BACKOFF_SECONDS) - 1)] if code else 0
            failures[gpu] += 1 if code else 0
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
    return 1 if gave_up else 0
