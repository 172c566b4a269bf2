"""The sampler a job asks for (contract/portrait.py SCHEDULERS), on a pipeline shared between jobs.

`scheduler_used` swaps the pipeline's scheduler for one job and always puts the original back, so
the next job (perhaps another workflow) finds the pipeline as loaded. Each named scheduler is built
from the original's config (from_config), so it keeps the base model's noise schedule (betas,
timestep spacing, prediction type) and changes only how it samples; the built schedulers are
cached, because from_config recomputes the whole schedule and jobs ask for the same few again.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from diffusers import DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

from gpu_worker.contract.portrait import SCHEDULERS

# name → how to build it from the original's config. The overrides are explicit even where they
# look like the class defaults: the original config may carry another sampler's choices (a base
# model shipped with Karras sigmas, or an SDE solver) that from_config would otherwise inherit.
_BUILDERS: dict[str, Callable[[Any], Any]] = {
    "euler": lambda config: EulerDiscreteScheduler.from_config(config, use_karras_sigmas=False),
    "euler_a": lambda config: EulerAncestralDiscreteScheduler.from_config(config),
    "dpmpp_2m_karras": lambda config: DPMSolverMultistepScheduler.from_config(
        config, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True
    ),
    "dpmpp_sde_karras": lambda config: DPMSolverMultistepScheduler.from_config(
        config, algorithm_type="sde-dpmsolver++", solver_order=2, use_karras_sigmas=True
    ),
}
# A worker serves a handful of pipelines (txt2img and the pipelines derived from it) times four
# samplers; the bound only keeps a misconfigured worker from growing without end.
CACHE_SIZE = 32
_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
_cache_lock = threading.Lock()


def _config_key(scheduler) -> str:
    """The original scheduler's class and config as text: equal configs share the built schedulers."""
    return json.dumps([type(scheduler).__name__, dict(scheduler.config)], sort_keys=True, default=str)


def built_scheduler(original, name: str):
    """The `name` scheduler for a pipeline whose scheduler is `original` (cached)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown scheduler {name!r}; one of {', '.join(SCHEDULERS)}")
    key = (_config_key(original), name)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    scheduler = _BUILDERS[name](original.config)
    with _cache_lock:
        _cache[key] = scheduler
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return scheduler


@contextmanager
def scheduler_used(pipeline, name: str) -> Iterator[Any]:
    """`pipeline.scheduler` is the `name` sampler inside the block ("default": the pipeline's own),
    and the original again afterwards, also when the block raised. Yields the scheduler in use.

    The caller holds the pipeline for the job (Models.exclusive): a swapped scheduler is visible to
    anything else using the pipeline at the same time.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; one of {', '.join(SCHEDULERS)}")
    original = pipeline.scheduler
    if name == "default":
        yield original
        return
    pipeline.scheduler = built_scheduler(original, name)
    try:
        yield pipeline.scheduler
    finally:
        pipeline.scheduler = original
