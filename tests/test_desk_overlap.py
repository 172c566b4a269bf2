"""The desk makeover's overlap (tiny preset): the planner's call runs while segmentation does, files
are written beside the main line, and failures end the job exactly as they did in line.

The OpenAI planner is the real `openai` client against tests/fake_openai.py. Assertions are about the
order of events (the fake server holds its reply until segmentation has started), never speed.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from gpu_worker.config import WorkerConfig
from gpu_worker.contract import JobSpec, JobStatus, encode
from gpu_worker.contract.desk_makeover import CONTRACT, PHOTO_INPUT, RESULT_PNG_ROLE, DeskParams, DeskPreferences
from gpu_worker.errors import WorkflowError
from gpu_worker.jobs import execute
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.stages.types import Detection
from gpu_worker.storage import LocalStorage
from gpu_worker.workflow import context_for, served_workflows
from gpu_worker.workflows.desk_makeover.planning import Preferences, StyleHints
from gpu_worker.workflows.desk_makeover.planning.choose import make_plan
from tests.fake_openai import FakeOpenAI, completion, error, settings_for
from tests.photos import make_desk_photo
from tests.test_gpu_planner import GOOD_PLAN

HOLD_LIMIT = 60.0  # seconds the fake server waits for segmentation to start: far beyond any tiny run


@pytest.fixture(scope="module")
def desk_runtime(tmp_path_factory) -> Runtime:
    """A worker's runtime that serves the desk makeover only, with its own scratch storage."""
    media = tmp_path_factory.mktemp("media")
    config = replace(WorkerConfig.from_env(), media_root=media, workflows=("desk_makeover",))
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


def _with_openai(runtime: Runtime, base_url: str, retries: int = 1) -> Runtime:
    """The same runtime (its loaded models too) configured for the fake OpenAI server."""
    return replace(runtime, config=replace(runtime.config, openai=settings_for(base_url, retries=retries)))


def _spec(runtime: Runtime, job_id: str, size: tuple[int, int]) -> JobSpec:
    """A job on its own photo size: perception is cached by the photo's bytes, and these tests need
    detection and segmentation to run."""
    key = f"uploads/overlap/{job_id}.jpg"
    runtime.storage.write(key, make_desk_photo(size), "image/jpeg")
    return JobSpec(
        job_id=job_id,
        kind="desk_makeover",
        output_prefix=f"results/{job_id}/",
        params=encode(DeskParams(seed=5)),
        inputs={PHOTO_INPUT: key},
    )


class _Clocked(list):
    """The fake server's request log, stamped with when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []

    def append(self, item) -> None:
        self.arrived.append(time.perf_counter())
        super().append(item)


class _HeldReplies(list):
    """The fake server's reply queue: a reply is handed out only once `ready()` says so (or after
    HOLD_LIMIT), and the moment it is handed out is recorded."""

    def __init__(self, ready) -> None:
        super().__init__()
        self.ready = ready
        self.sent: list[float] = []
        self.held_too_long = False

    def pop(self, index: int = -1):
        deadline = time.monotonic() + HOLD_LIMIT
        while not self.ready():
            if time.monotonic() > deadline:
                self.held_too_long = True
                break
            time.sleep(0.005)
        self.sent.append(time.perf_counter())
        return super().pop(index)


def test_the_planner_call_is_in_flight_while_segmentation_runs(desk_runtime):
    registered = served_workflows(("desk_makeover",))["desk_makeover"]
    with FakeOpenAI() as server:
        runtime = _with_openai(desk_runtime, server.base_url)
        spec = _spec(runtime, "overlap1", (408, 306))
        ctx = context_for(registered, spec, runtime, ProgressReporter())
        server.requests = _Clocked()
        server.replies = _HeldReplies(lambda: "segment" in ctx.stage_started)
        server.reply(200, completion(json.dumps(GOOD_PLAN)))
        data = registered.run(ctx, DeskParams(seed=5))

    assert data.planner == "openai:gpt-4.1-mini"
    assert data.planner_fallback_reason is None
    assert [item.label for item in data.items] == ["plant", "monitor stand", "desk mat"]
    assert len(server.requests) == 1
    assert server.replies.held_too_long is False, "segmentation never started while the planner waited"
    started = ctx.stage_started
    # The call was made before segmentation started and answered after it had: it ran beside it.
    assert started["detect"] < started["plan"] < started["segment"]
    assert started["segment"] <= server.replies.sent[0]
    assert server.requests.arrived[0] <= server.replies.sent[0]
    # The job waited for the plan only after the mask, and the files were written off the main line.
    assert started["segment"] < started["mask"] < started["plan_wait"] < started["inpaint"]
    assert {"plan", "plan_wait", "perception_save", "mask_save", "save"} <= set(ctx.timings)
    assert [o.role for o in ctx.outputs] == ["result", RESULT_PNG_ROLE, "mask"]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("job-overlap1-")], "nothing outlives it"


def _expected_fallback(replies: list[tuple[int, dict]], work: Image.Image, detections: list[Detection]):
    """What the planner gives, in line, for the same server answers (the behaviour before the overlap)."""
    with FakeOpenAI() as server:
        for status, body in replies:
            server.reply(status, body)
        return make_plan(
            settings_for(server.base_url),
            image=work,
            detections=detections,
            preferences=Preferences.from_contract(DeskPreferences()),
            style=StyleHints(),
        )


def test_a_failing_planner_still_falls_back_to_the_local_plan_with_the_same_reason(desk_runtime):
    replies = [(500, error(500, "the model is down")), (500, error(500, "the model is down"))]
    with FakeOpenAI() as server:
        for status, body in replies:
            server.reply(status, body)
        runtime = _with_openai(desk_runtime, server.base_url)
        result = execute(_spec(runtime, "overlap2", (412, 309)), ProgressReporter(), runtime)
        asked = len(server.requests)
    assert result.status is JobStatus.SUCCEEDED, result.error
    assert asked == 2, "one try and one retry, as configured"
    data = CONTRACT.decode_result(result.data)
    assert data.planner == "local"

    # The same failure in line gives the same plan and the same reason (the local planner reads the
    # detected labels only).
    detections = [Detection(d.label, d.score, (0, 0, 1, 1)) for d in data.detections]
    plan, reason = _expected_fallback(replies, Image.new("RGB", (64, 48)), detections)
    assert reason  # the fallback says why
    assert data.planner_fallback_reason == reason
    assert (data.prompt, data.negative_prompt) == (plan.prompt, plan.negative_prompt)
    assert [item.label for item in data.items] == [item.label for item in plan.items]
    assert [o.role for o in result.outputs] == ["result", RESULT_PNG_ROLE, "mask"]


def test_a_photo_that_is_not_a_desk_never_calls_the_planner(desk_runtime):
    registered = served_workflows(("desk_makeover",))["desk_makeover"]
    with FakeOpenAI() as server:
        server.reply(200, completion(json.dumps(GOOD_PLAN)))
        runtime = _with_openai(desk_runtime, server.base_url)
        spec = _spec(runtime, "overlap3", (416, 312))
        ctx = context_for(registered, spec, runtime, ProgressReporter())
        ctx = replace(ctx, settings=replace(ctx.settings, box_threshold=1.01))  # nothing scores above 1
        with pytest.raises(WorkflowError) as raised:
            registered.run(ctx, DeskParams(seed=5))
        assert server.requests == []
    assert raised.value.code == "not_a_desk"
    assert "plan" not in ctx.stage_started


def test_a_write_that_fails_in_the_background_fails_the_job_as_it_did_in_line(desk_runtime):
    """The results folder cannot be made (a file is in its place): the mask's write fails on its
    thread, the result's in line; the job raises the same error as before and leaves no thread."""
    spec = _spec(desk_runtime, "overlap4", (420, 315))
    blocker = Path(desk_runtime.config.media_root) / "results" / "overlap4"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"in the way")
    with pytest.raises(FileExistsError):
        execute(spec, ProgressReporter(), desk_runtime)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("job-overlap4-")]


def test_work_beside_the_main_line_logs_with_the_jobs_id(desk_runtime):
    """A new thread starts with empty context variables: without copying the job's context, the
    planner's and the writers' log lines would lose the job id (gpu_worker/logs.py)."""
    from gpu_worker.logs import current_job_id, job_log_context

    spec = _spec(desk_runtime, "overlap5", (420, 315))
    ctx = context_for(served_workflows(("desk_makeover",))["desk_makeover"], spec, desk_runtime, ProgressReporter())
    with job_log_context("overlap5"), ctx.background() as later:
        seen = later.submit("probe", current_job_id)
    assert (seen.result(), current_job_id()) == ("overlap5", None)
