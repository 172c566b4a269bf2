import json
from dataclasses import replace

import pytest

from gpu_worker.contract import (
    CONTRACT_VERSION,
    ContractError,
    ErrorCode,
    JobResult,
    JobSpec,
    JobStatus,
    LoraSpec,
    OutputImage,
    Progress,
    StyleSpec,
    all_contracts,
    decode,
    encode,
)
from gpu_worker.contract.desk_makeover import CONTRACT as DESK
from gpu_worker.contract.desk_makeover import DeskError, DeskParams, DeskPreferences
from gpu_worker.contract.picture_diary import CONTRACT as DIARY
from gpu_worker.contract.picture_diary import DiaryParams


def _spec(**overrides) -> dict:
    data = JobSpec(
        job_id="j1", kind="preview", inputs={"photo": "uploads/1/a.jpg"}, output_prefix="results/1/j1/"
    ).to_dict()
    data.update(overrides)
    return data


def test_spec_round_trips_through_json_with_named_inputs():
    spec = JobSpec(
        job_id="j1",
        kind="studio_training",
        inputs={"photos": [f"u/{i}.jpg" for i in range(20)], "mask": "u/m.png"},
        output_prefix="r/j1/",
        params={"seed": 7},
    )
    again = JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.inputs["photos"][19] == "u/19.jpg"
    assert again.input_key("mask") == "u/m.png"
    with pytest.raises(ContractError, match="no single input named 'photos'"):
        again.input_key("photos")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"version": CONTRACT_VERSION + 1}, "unsupported contract version"),
        ({"version": 1}, "unsupported contract version"),
        ({"kind": "Paint The Cat"}, "unknown job kind"),
        ({"output_prefix": "../escape/"}, "output_prefix"),
        ({"output_prefix": "no-trailing-slash"}, "output_prefix"),
        ({"inputs": {"photo": "../../etc/passwd"}}, "relative key"),
        ({"inputs": {"photos": ["ok.jpg", "/abs.jpg"]}}, "relative key"),
        ({"inputs": {"photo": 5}}, "wrong type"),
        ({"params": "not a dict"}, "expected an object"),
        ({"job_id": 5}, "wrong type"),
        ({"input_key": "u/a.jpg"}, "unknown field"),
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
    failed = JobResult.failure("j1", DeskError.NOT_A_DESK, "no desk").to_dict()
    assert JobResult.from_dict(failed).error.code == "not_a_desk"
    failed["error"] = None
    with pytest.raises(ContractError, match="must carry an error"):
        JobResult.from_dict(failed)


def test_error_codes_are_generic_plus_the_workflows_own():
    assert "not_a_desk" in DESK.error_codes()
    assert "not_a_desk" not in DIARY.error_codes()
    assert set(ErrorCode) <= set(DIARY.error_codes())
    assert "empty_entry" in DIARY.error_codes()


def test_progress_is_clamped():
    progress = Progress.from_dict({"version": CONTRACT_VERSION, "stage": "painting", "percent": 140})
    assert progress.percent == 100.0


def test_workflow_params_are_typed_both_ways():
    params = DeskParams(
        seed=3,
        preferences=DeskPreferences(tone="warm", budget_max=50000),
        style=StyleSpec(slug="cozy", lora=LoraSpec(key="styles/loras/a.safetensors", sha256="ab" * 32, weight=0.8)),
    )
    data = json.loads(json.dumps(DESK.encode_params(params)))
    assert data["preferences"] == {
        "tone": "warm",
        "budget_min": None,
        "budget_max": 50000,
        "include_categories": [],
        "avoid_categories": [],
    }
    assert DESK.decode_params(data) == params
    with pytest.raises(ContractError, match="must be one of 'neutral', 'warm', 'cool'"):
        DESK.decode_params({**data, "preferences": {"tone": "purple"}})
    with pytest.raises(ContractError, match="missing field 'seed'"):
        DESK.decode_params({})
    with pytest.raises(ContractError, match="params must be DeskParams"):
        DESK.encode_params(DiaryParams(text="hi", seed=1))


def test_diary_params_refuse_long_text_and_unknown_moods():
    ok = encode(DiaryParams(text="가" * 2000, seed=1, mood="happy"))
    assert DIARY.decode_params(ok).text == "가" * 2000
    with pytest.raises(ContractError, match="at most 2000 characters"):
        DIARY.decode_params({**ok, "text": "가" * 2001})
    with pytest.raises(ContractError, match="unknown mood 'furious'"):
        DIARY.decode_params({**ok, "mood": "furious"})
    with pytest.raises(ContractError, match="must be one of 'landscape', 'portrait'"):
        DIARY.decode_params({**ok, "orientation": "square"})


def test_lora_specs_are_pinned_safetensors():
    with pytest.raises(ContractError, match="safetensors"):
        LoraSpec(key="styles/evil.pt", sha256="0" * 64)
    with pytest.raises(ContractError, match="between 0 and 2"):
        LoraSpec(key="styles/a.safetensors", sha256="0" * 64, weight=3.0)
    with pytest.raises(ContractError, match="relative key"):
        decode(LoraSpec, {"key": "/etc/a.safetensors", "sha256": "0" * 64})


def test_every_contract_module_is_found_with_its_queue():
    contracts = all_contracts()
    assert {kind: c.queue for kind, c in contracts.items()} == {
        "desk_makeover": "gpu",
        "lora_check": "gpu",
        "one_photo_profile": "gpu-studio",
        "picture_diary": "gpu-diary",
        "portrait": "gpu-studio",
        "pose_extract": "gpu-studio",
        "preview": "gpu",
        "subject_photo_check": "gpu",
        "subject_training": "gpu-train",
    }


# ---- portraits ---------------------------------------------------------------------------------


def _personal_model():
    from gpu_worker.contract.portrait import PersonalModelSpec

    return PersonalModelSpec(
        lora=LoraSpec(key="results/t/lora.safetensors", sha256="a" * 64),
        embeddings_key="results/t/embeddings.safetensors",
        embeddings_sha256="b" * 64,
        tokens=["<s0>", "<s1>"],
        class_word="dog",
        base_model="tiny:txt2img:seed0",
    )


def test_a_concept_has_exactly_one_subject_slot_and_sane_numbers():
    from gpu_worker.contract.portrait import ConceptSpec

    assert ConceptSpec(slug="a", prompt_template="photo of {subject}").scheduler == "default"
    for template in ("photo of a person", "{subject} and {subject}"):
        with pytest.raises(ContractError, match="exactly one"):
            ConceptSpec(slug="a", prompt_template=template)
    with pytest.raises(ContractError, match="unknown scheduler"):
        ConceptSpec(slug="a", prompt_template="{subject}", scheduler="ddim")
    with pytest.raises(ContractError, match="filter_strength"):
        ConceptSpec(slug="a", prompt_template="{subject}", filter_strength=0.9)


def test_a_pose_has_18_keypoints_inside_its_frame():
    from gpu_worker.contract.portrait import PoseSpec

    seen = [[0.5, 0.5, 1.0]] * 2 + [[0, 0, 0]] * 16
    assert PoseSpec(slug="p", keypoints=seen).aspect == 0.8
    with pytest.raises(ContractError, match="18 keypoints"):
        PoseSpec(slug="p", keypoints=seen[:17])
    with pytest.raises(ContractError, match="inside its frame"):
        PoseSpec(slug="p", keypoints=[[1.5, 0.5, 1.0], *seen[1:]])
    with pytest.raises(ContractError, match="two seen keypoints"):
        PoseSpec(slug="p", keypoints=[[0.5, 0.5, 1.0]] + [[0, 0, 0]] * 17)


def test_portrait_params_keep_instructions_for_pets_and_poses_for_people():
    from gpu_worker.contract.portrait import CONTRACT, ConceptSpec, PortraitParams, PoseSpec

    model = _personal_model()
    concept = ConceptSpec(slug="c", prompt_template="{subject} in a garden")
    pose = PoseSpec(slug="p", keypoints=[[0.5, 0.5, 1.0]] * 2 + [[0, 0, 0]] * 16)
    pet = PortraitParams(subject_kind="dog", model=model, concept=concept, seed=1, instruction="바다에서")
    assert CONTRACT.decode_params(CONTRACT.encode_params(pet)) == pet
    assert model.phrase == "<s0><s1> dog"
    with pytest.raises(ContractError, match="only a pet"):
        PortraitParams(subject_kind="person", model=model, concept=concept, seed=1, instruction="hi")
    with pytest.raises(ContractError, match="poses are for people"):
        PortraitParams(subject_kind="cat", model=model, concept=concept, seed=1, pose=pose)
    with pytest.raises(ContractError, match="unknown tone"):
        PortraitParams(subject_kind="dog", model=model, concept=concept, seed=1, tone="auto")
    with pytest.raises(ContractError, match="tokens look like"):
        replace(model, tokens=["s0"])


def test_one_photo_params_know_their_backdrops_and_tones():
    from gpu_worker.contract.one_photo_profile import BACKGROUNDS, OnePhotoParams

    assert set(BACKGROUNDS) == {"white", "light_grey", "sky_blue", "beige", "charcoal"}
    assert OnePhotoParams(seed=1).tone == "auto"
    with pytest.raises(ContractError, match="unknown background"):
        OnePhotoParams(seed=1, background="beach")
    with pytest.raises(ContractError, match="unknown tone"):
        OnePhotoParams(seed=1, tone="neutral")
