"""Launch a GPU worker: `python -m gpu_worker [--burst]`.

One process per GPU (pin it with CUDA_VISIBLE_DEVICES); any number of machines may point at
the same Redis. Models load once at start and stay loaded. Jobs run in this process
(RQ's SimpleWorker, no fork per job): CUDA does not survive fork, and a loaded model is the
whole point of a warm worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from gpu_worker.config import WorkerConfigError
from gpu_worker.logs import configure_logging, route_library_logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_worker")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty (tests, batch runs)")
    parser.add_argument("--no-warm-up", action="store_true", help="load models on first use instead of at start")
    parser.add_argument("--name-suffix", default="", help="appended to the worker's name (the supervisor sets it)")
    parser.add_argument(
        "--name", default="", help="the worker's RQ name (a supervisor chooses it, to report the worker if it dies)"
    )
    parser.add_argument("--gpus", default=None, help="supervise one worker per GPU: 'all' or a list like 0,1")
    args = parser.parse_args(argv)
    try:
        # Lines about a job carry its id (ONTOP_LOG_FORMAT=plain|json; gpu_worker/logs.py).
        configure_logging(logging.INFO)
    except WorkerConfigError as exc:
        print(f"gpu_worker configuration error: {exc}", file=sys.stderr)
        return 2

    if args.gpus:
        from gpu_worker.supervisor import supervise, visible_gpus

        passthrough = ["--burst"] if args.burst else []
        passthrough += ["--no-warm-up"] if args.no_warm_up else []
        return supervise(visible_gpus(args.gpus), passthrough, restart=not args.burst)

    try:
        from gpu_worker.runtime import runtime
        from gpu_worker.workflow import model_roles, queues_for, served_workflows

        state = runtime()
        config = state.config
        served = served_workflows(config.workflows)
        listen = queues_for(served, config.queues)
        roles = model_roles(served)
        missing = state.models.missing_sources(roles)
        if missing:
            raise WorkerConfigError(
                f"ONTOP_GPU_MODEL_PRESET=real needs a local path or cached hub id in {', '.join(missing)} "
                f"(for {', '.join(served)})."
            )
    except WorkerConfigError as exc:
        print(f"gpu_worker configuration error: {exc}", file=sys.stderr)
        return 2

    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    from gpu_worker import deferred_writes
    from gpu_worker import metrics as gpu_metrics
    from gpu_worker.registry import ModelSourceError
    from gpu_worker.resilience import ResilientGpuWorker

    try:
        gpu_metrics.serve()  # ONTOP_GPU_METRICS_PORT; before the models load, so a taken port fails fast
    except WorkerConfigError as exc:
        print(f"gpu_worker configuration error: {exc}", file=sys.stderr)
        return 2
    route_library_logs()  # before models load: their libraries' lines then carry the job id too
    if not args.no_warm_up:
        try:
            gpu_metrics.models_warm_up(state.models, roles)  # state.models.warm_up, timed per model
        except ModelSourceError as exc:
            print(f"gpu_worker model error: {exc}", file=sys.stderr)
            return 2
    connection = Redis.from_url(config.redis_url)
    queues = [Queue(name, connection=connection, serializer=JSONSerializer) for name in listen]
    name = args.name or f"{socket.gethostname()}-{os.getpid()}{'-' + args.name_suffix if args.name_suffix else ''}"
    # Survives Redis outages (waits and reconnects) and heartbeats while a job runs.
    worker = ResilientGpuWorker(queues, connection=connection, serializer=JSONSerializer, name=name)
    worker.max_rss_bytes = config.max_rss_mb * 1024 * 1024
    # Recycles are counted per stable slot (machine + GPU/role), not per RQ name: every start gets a
    # new name, so a per-name count would go to 1 once and never grow.
    label = args.name_suffix or (args.name.rsplit("-", 1)[-1] if args.name else "worker")
    worker.slot = f"{socket.gethostname()}-{label}"
    gpu_metrics.worker_started(
        worker=name, device=str(state.models.device), preset=config.model_preset, rss_limit_bytes=worker.max_rss_bytes
    )
    logging.getLogger("gpu_worker").info(
        "serving %s from %s on %s with the %s preset (models: %s)",
        ",".join(served),
        ",".join(listen),
        state.models.device,
        config.model_preset,
        ",".join(sorted(state.models.loaded())) or "none yet",
    )
    worker.work(burst=args.burst, max_jobs=config.max_jobs or None, with_scheduler=False)
    # Stopping or recycling: the lossless copies of the last jobs are written before the exit.
    deferred_writes.flush(timeout=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
