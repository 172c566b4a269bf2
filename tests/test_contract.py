import json

import pytest

from gpu_worker.contract import (
    CONTRACT_VERSION,
    ContractError,
    ErrorCode,
    JobKind,
    JobResult,
    JobSpec,
    JobStatus,
    OutputImage,
    Progress,
)


def _spec(**overrides) -> dict:
    data = JobSpec(
        job_id="j1", kind=JobKind.PREVIEW, input_key="uploads/1/a.jpg", output_prefix="results/1/j1/"
    ).to_dict()
    data.update(overrides)
    return data


def test_spec_round_trips_through_json():
    spec = JobSpec(
        job_id="j1", kind=JobKind.DESK_MAKEOVER, input_key="u/a.jpg", output_prefix="r/j1/", params={"seed": 7}
    )
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"version": CONTRACT_VERSION + 1}, "unsupported contract version"),
        ({"kind": "paint_the_cat"}, "unknown job kind"),
        ({"output_prefix": "../escape/"}, "output_prefix"),
        ({"output_prefix": "no-trailing-slash"}, "output_prefix"),
        ({"params": "not a dict"}, "wrong type"),
        ({"job_id": 5}, "wrong type"),
    ],
)
def test_spec_rejects_what_it_does_not_understand(overrides, message):
    with pytest.raises(ContractError, match=message):
        JobSpec.from_dict(_spec(**overrides))


def test_result_round_trip_and_failed_results_need_an_error():
    result = JobResult(
        job_id="j1",
        status=JobStatus.SUCCEEDED,
        outputs=[OutputImage(role="result", key="r/j1/result.png", width=64, height=48)],
        timings={"load": 0.1},
    )
    again = JobResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert again.output("result").width == 64
    failed = JobResult.failure("j1", ErrorCode.NOT_A_DESK, "no desk").to_dict()
    assert JobResult.from_dict(failed).error.code is ErrorCode.NOT_A_DESK
    failed["error"] = None
    with pytest.raises(ContractError, match="must carry an error"):
        JobResult.from_dict(failed)


def test_progress_is_clamped():
    progress = Progress.from_dict({"version": CONTRACT_VERSION, "stage": "painting", "percent": 140})
    assert progress.percent == 100.0
