"""A job's sampler: swapped in on a shared pipeline for one job, the original always put back."""

from __future__ import annotations

import pytest
from diffusers import DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

from gpu_worker.contract.portrait import SCHEDULERS
from gpu_worker.stages.schedulers import scheduler_used


class Pipeline:
    """What scheduler_used touches on a diffusers pipeline: its `scheduler` attribute."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler


def _sdxl_scheduler(**overrides) -> EulerDiscreteScheduler:
    """SDXL base's own scheduler config (its model_index.json: Euler, leading spacing, offset 1)."""
    config = {
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "timestep_spacing": "leading",
        "steps_offset": 1,
        "prediction_type": "epsilon",
    }
    return EulerDiscreteScheduler(**(config | overrides))


@pytest.mark.parametrize(
    ("name", "cls", "expected"),
    [
        ("euler", EulerDiscreteScheduler, {"use_karras_sigmas": False}),
        ("euler_a", EulerAncestralDiscreteScheduler, {}),
        (
            "dpmpp_2m_karras",
            DPMSolverMultistepScheduler,
            {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
        ),
        (
            "dpmpp_sde_karras",
            DPMSolverMultistepScheduler,
            {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
        ),
    ],
)
def test_each_scheduler_is_built_from_the_pipelines_own_config_and_the_original_comes_back(name, cls, expected):
    original = _sdxl_scheduler()
    pipeline = Pipeline(original)
    with scheduler_used(pipeline, name) as used:
        assert pipeline.scheduler is used
        assert type(used) is cls
        for key, value in expected.items():
            assert used.config[key] == value, key
        # The base model's noise schedule is kept: only the sampling changes.
        for key in ("beta_start", "beta_end", "beta_schedule", "timestep_spacing", "steps_offset", "prediction_type"):
            assert used.config[key] == original.config[key], key
    assert pipeline.scheduler is original
    assert set(SCHEDULERS) == {"default", "euler", "euler_a", "dpmpp_2m_karras", "dpmpp_sde_karras"}


def test_default_keeps_the_pipelines_scheduler():
    original = _sdxl_scheduler()
    pipeline = Pipeline(original)
    with scheduler_used(pipeline, "default") as used:
        assert used is original
        assert pipeline.scheduler is original
    assert pipeline.scheduler is original


def test_the_original_is_restored_after_an_exception():
    original = _sdxl_scheduler()
    pipeline = Pipeline(original)
    seen = []

    def job() -> None:
        with scheduler_used(pipeline, "dpmpp_2m_karras"):
            seen.append(type(pipeline.scheduler))
            raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError, match="the job failed"):
        job()
    assert seen == [DPMSolverMultistepScheduler]
    assert pipeline.scheduler is original


def test_built_schedulers_are_cached_per_config_and_name():
    first, second = Pipeline(_sdxl_scheduler()), Pipeline(_sdxl_scheduler())  # equal configs
    with scheduler_used(first, "euler_a") as a, scheduler_used(second, "euler_a") as b:
        assert a is b
    with scheduler_used(first, "euler") as euler:
        assert euler is not a
    other = Pipeline(_sdxl_scheduler(timestep_spacing="trailing"))
    with scheduler_used(other, "euler_a") as c:
        assert c is not a
        assert c.config["timestep_spacing"] == "trailing"


def test_a_karras_base_config_does_not_leak_into_plain_euler():
    pipeline = Pipeline(_sdxl_scheduler(use_karras_sigmas=True))
    with scheduler_used(pipeline, "euler") as used:
        assert used.config["use_karras_sigmas"] is False


def test_an_unknown_scheduler_is_refused_and_nothing_changes():
    original = _sdxl_scheduler()
    pipeline = Pipeline(original)
    with pytest.raises(ValueError, match="unknown scheduler 'ddim'"):
        scheduler_used(pipeline, "ddim").__enter__()
    assert pipeline.scheduler is original
