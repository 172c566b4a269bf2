"""Style LoRA uploads: only sane, LoRA-shaped safetensors get in; nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generation.lora_validation import LoraInvalid, validate_lora
from generation.models import Style
from gpu_worker.runtime import runtime
from gpu_worker.tiny_models import build_style_lora


def _safetensors(tensors: dict[str, np.ndarray], header_extra: dict | None = None) -> bytes:
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        raw = array.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header.update(header_extra or {})
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs)


def _pair(rank=4, down_in=8, up_out=8, prefix="unet.block.to_q"):
    return {
        f"{prefix}.lora_A.weight": np.ones((rank, down_in)),
        f"{prefix}.lora_B.weight": np.ones((up_out, rank)),
    }


def test_a_real_diffusers_lora_is_accepted(tmp_path):
    path = build_style_lora(runtime().models.source("inpaint"), tmp_path / "style.safetensors", seed=1)
    info = validate_lora(io.BytesIO(path.read_bytes()))
    assert info.rank == 4
    assert info.tensors > 0
    assert len(info.sha256) == 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pickle.dumps({"lora_A": [1, 2, 3]}), "Pickle"),
        (b"PK\x03\x04" + b"\0" * 100, "Pickle"),
        (b"abc", "too short"),
        (struct.pack("<Q", 10**9) + b"{}", "unreasonably large"),
        (struct.pack("<Q", 500) + b"{}", "past the end"),
        (struct.pack("<Q", 5) + b"nope!", "not valid JSON"),
        (_safetensors({"model.diffusion_model.weight": np.ones((4, 4))}), "not a LoRA weight"),
        (_safetensors({"unet.a.lora_A.weight": np.ones((4, 8))}), "missing its up weight"),
        (
            _safetensors({"unet.a.lora_A.weight": np.ones((4, 8)), "unet.a.lora_B.weight": np.ones((8, 3))}),
            "inconsistent ranks",
        ),
        (_safetensors(_pair(rank=300, down_in=2, up_out=2)), "ranks must be"),
        (_safetensors({**_pair(), "unet.block.to_q.lora_B.weight": np.full((8, 4), np.nan)}), "NaN"),
        (_safetensors({}), "no tensors"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(data, message):
    with pytest.raises(LoraInvalid, match=message):
        validate_lora(io.BytesIO(data))


def test_lying_offsets_and_wrong_dtypes_are_rejected():
    good = _safetensors(_pair())
    length = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8 : 8 + length])
    header["unet.block.to_q.lora_A.weight"]["dtype"] = "I64"
    bad = json.dumps(header).encode()
    with pytest.raises(LoraInvalid, match="dtype"):
        validate_lora(io.BytesIO(struct.pack("<Q", len(bad)) + bad + good[8 + length :]))
    header["unet.block.to_q.lora_A.weight"].update(dtype="F32", data_offsets=[0, 999_999])
    bad = json.dumps(header).encode()
    with pytest.raises(LoraInvalid, match="does not fit"):
        validate_lora(io.BytesIO(struct.pack("<Q", len(bad)) + bad + good[8 + length :]))


def test_size_limit():
    with pytest.raises(LoraInvalid, match="larger than"):
        validate_lora(io.BytesIO(_safetensors(_pair())), max_bytes=100)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "name", "message"),
    [(pickle.dumps({"x": 1}), "evil.safetensors", "Pickle"), (b"whatever", "style.ckpt", "Only .safetensors")],
)
def test_admin_rejects_bad_loras_and_keeps_nothing(admin_client, content, name, message):
    from django.core.files.storage import default_storage

    def stored() -> set[str]:
        return set(default_storage.listdir("styles/loras/")[1]) if default_storage.exists("styles/loras/") else set()

    before = stored()
    response = admin_client.post("/admin/generation/style/add/", _style_form(content, name))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Style.objects.filter(slug="cozy-lora").exists()
    assert stored() == before, "a rejected upload leaves no file behind"


def _style_form(content: bytes, name: str) -> dict:
    return {
        "slug": "cozy-lora",
        "scopes": ["desk_makeover"],
        "name_en": "Cozy",
        "name_ko": "코지",
        "description_en": "",
        "description_ko": "",
        "trigger_words": "cozyroom",
        "prompt_addition": "",
        "negative_prompt_addition": "",
        "lora_file": SimpleUploadedFile(name, content, content_type="application/octet-stream"),
        "lora_weight": "0.8",
        "ordering": "0",
        "is_active": "on",
    }


# ---- the check against the base model: the lora_check workflow (tiny models, in this process) ----


def _tensors(path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def _sdxl_pair(block: str = "down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_q") -> dict[str, np.ndarray]:
    """A layer of the real SDXL UNet (1280 wide, ten transformer blocks deep): the tiny one has no such module."""
    return {f"unet.{block}.lora_A.weight": np.ones((4, 1280)), f"unet.{block}.lora_B.weight": np.ones((1280, 4))}


@pytest.fixture(scope="module")
def check_runtime(tmp_path_factory):
    from pathlib import Path

    from gpu_worker.config import WorkerConfig
    from gpu_worker.registry import ModelRegistry
    from gpu_worker.runtime import Runtime
    from gpu_worker.storage import LocalStorage
    from tests.conftest import BASE_DIR

    media = tmp_path_factory.mktemp("media")
    model_dir = Path(os.environ.get("ONTOP_GPU_MODEL_DIR") or BASE_DIR / "var" / "models").resolve()
    config = WorkerConfig(
        redis_url="redis://unused",
        media_root=media,
        s3_bucket=None,
        s3_endpoint_url=None,
        model_preset="tiny",
        model_dir=model_dir,
        device="cpu",
        dtype="float32",
        workflows=("lora_check",),
    )
    return Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))


@pytest.fixture(scope="module")
def tiny_lora(check_runtime, tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("loras")
    return build_style_lora(check_runtime.models.source("inpaint"), folder / "fits.safetensors", seed=4).read_bytes()


def _check(check_runtime, name: str, data: bytes):
    """A lora_check job through the worker's own entry point; returns (result envelope, LoraSpec)."""
    import hashlib

    from gpu_worker.contract import JobSpec, LoraSpec, encode
    from gpu_worker.contract.lora_check import LoraCheckParams
    from gpu_worker.jobs import execute
    from gpu_worker.progress import ProgressReporter

    key = f"styles/loras/{name}.safetensors"
    check_runtime.storage.write(key, data, "application/octet-stream")
    lora = LoraSpec(key=key, sha256=hashlib.sha256(data).hexdigest(), weight=0.8)
    spec = JobSpec(
        job_id=name, kind="lora_check", output_prefix=f"results/{name}/", params=encode(LoraCheckParams(lora=lora))
    )
    return execute(spec, ProgressReporter(), check_runtime), lora


def _on_pipelines(check_runtime, lora) -> list[bool]:
    from gpu_worker.loras import adapter_name

    name = adapter_name(lora)
    return [
        name in {a for names in check_runtime.models.get(role).get_list_adapters().values() for a in names}
        for role in ("inpaint", "txt2img")
    ]


def test_a_lora_made_for_the_base_model_fits_every_pipeline_and_stays_loaded(check_runtime, tiny_lora):
    from gpu_worker.contract import JobStatus
    from gpu_worker.contract.lora_check import CONTRACT

    envelope, lora = _check(check_runtime, "fits", tiny_lora)
    assert envelope.status is JobStatus.SUCCEEDED, envelope.error
    result = CONTRACT.decode_result(envelope.data)
    assert (result.fits, result.reason, result.pipelines, result.layers) == (True, "", ["inpaint", "txt2img"], 32)
    assert _on_pipelines(check_runtime, lora) == [True, True], "warm for the style's first jobs"


def test_an_sdxl_lora_whose_layers_the_base_model_lacks_does_not_fit(check_runtime):
    from gpu_worker.contract.lora_check import CONTRACT

    envelope, lora = _check(check_runtime, "sdxl", _safetensors(_sdxl_pair()))
    result = CONTRACT.decode_result(envelope.data)
    assert (result.fits, result.pipelines, result.layers) == (False, [], 1)
    assert result.reason == (
        "The inpaint pipeline cannot load it: NoMatchingPeftModuleError: Target modules "
        "{'down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_q'} not found in the base model. "
        "Please check the target modules and try again."
    )
    assert _on_pipelines(check_runtime, lora) == [False, False]


def test_a_lora_with_other_shapes_does_not_fit(check_runtime, tiny_lora, tmp_path):
    from gpu_worker.contract.lora_check import CONTRACT

    tensors = _tensors(_written(tmp_path, tiny_lora))
    name = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k.lora_A.weight"
    assert tensors[name].shape == (4, 64)
    tensors[name] = np.ones((4, 67), dtype=np.float32)
    envelope, lora = _check(check_runtime, "shapes", _safetensors(tensors))
    result = CONTRACT.decode_result(envelope.data)
    assert result.fits is False
    assert result.reason.startswith("The inpaint pipeline cannot load it: RuntimeError: Error(s) in loading state_dict")
    assert "copying a param with shape torch.Size([4, 67]) from checkpoint" in result.reason
    assert "the shape in current model is torch.Size([4, 64])" in result.reason
    assert _on_pipelines(check_runtime, lora) == [False, False]


def test_a_lora_of_which_only_some_layers_fit_does_not_fit_and_is_taken_off_again(check_runtime, tiny_lora, tmp_path):
    """diffusers loads such a file without a word (it only logs the layers it skipped)."""
    from gpu_worker.contract.lora_check import CONTRACT

    tensors = {**_tensors(_written(tmp_path, tiny_lora)), **_sdxl_pair()}
    envelope, lora = _check(check_runtime, "partly", _safetensors(tensors))
    result = CONTRACT.decode_result(envelope.data)
    assert (result.fits, result.pipelines, result.layers) == (False, [], 33)
    assert result.reason == (
        "Only 32 of its 33 layers fit the inpaint pipeline; the others name modules the base model does not have. "
        "Not found: unet.down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_q."
    )
    assert _on_pipelines(check_runtime, lora) == [False, False], "never left on a pipeline that serves people"


def test_a_lora_whose_file_is_not_the_one_recorded_is_not_answered(check_runtime, tiny_lora):
    from gpu_worker.contract import JobSpec, JobStatus, LoraSpec, encode
    from gpu_worker.contract.lora_check import LoraCheckParams
    from gpu_worker.jobs import execute
    from gpu_worker.progress import ProgressReporter

    check_runtime.storage.write("styles/loras/swapped.safetensors", tiny_lora, "application/octet-stream")
    lora = LoraSpec(key="styles/loras/swapped.safetensors", sha256="0" * 64)
    spec = JobSpec(
        job_id="swapped", kind="lora_check", output_prefix="results/swapped/", params=encode(LoraCheckParams(lora=lora))
    )
    envelope = execute(spec, ProgressReporter(), check_runtime)
    assert (envelope.status, envelope.error.code) == (JobStatus.FAILED, "internal")
    assert envelope.error.message == "The style's LoRA file does not match its recorded hash."


def _written(tmp_path, data: bytes):
    path = tmp_path / "lora.safetensors"
    path.write_bytes(data)
    return path


# ---- the web tier: a style's LoRA is used, and the style live, only once the check said yes -------


def _upload(admin_client, data: bytes, *, slug: str = "cozy-lora", path: str = "/admin/generation/style/add/"):
    form = {**_style_form(data, "cozy.safetensors"), "slug": slug}
    response = admin_client.post(path, form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    return Style.objects.select_related("lora_check_job").get(slug=slug)


def _run_checks() -> None:
    """The GPU worker's entry point on the real queue, in this process (the tiny pipelines load
    once), then the Django-side finalize with the check's handler."""
    import django_rq
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    from tests.conftest import run_django_worker_burst

    connection = django_rq.get_connection("default")
    queue = Queue("gpu", connection=connection, serializer=JSONSerializer)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    run_django_worker_burst()


def _list_row(admin_client, style: Style) -> str:
    """The style's row on the admin's list of styles."""
    page = admin_client.get("/admin/generation/style/").content.decode()
    link = f'href="/admin/generation/style/{style.pk}/change/"'
    (row,) = [row for row in page.split("<tr")[1:] if link in row and 'class="field-lora"' in row]
    return row


@pytest.mark.django_db(transaction=True)
def test_a_new_lora_is_checked_on_the_gpu_worker_and_its_style_stays_off_meanwhile(
    admin_client, admin_user, redis_clean, tiny_lora
):
    from generation import dispatch, services

    style = _upload(admin_client, tiny_lora)
    job = style.lora_check_job
    assert (style.is_active, style.lora_status, style.lora_sha256) == (False, "checking", "")
    assert (job.kind, job.owner, job.status) == ("lora_check", admin_user, "queued")
    lora = job.spec["params"]["lora"]
    assert (lora["key"], lora["weight"]) == (style.lora_file.name, 0.8)
    assert lora["sha256"] == hashlib.sha256(tiny_lora).hexdigest()
    assert dispatch.gpu_job_fetch(job.gpu_rq_job_id).origin == "gpu"
    assert services.style_spec(style).lora is None, "no job uses a LoRA before it passed"
    assert ">checking<" in _list_row(admin_client, style)


@pytest.mark.django_db(transaction=True)
def test_a_style_cannot_be_switched_on_before_its_lora_passed(admin_client, redis_clean, tiny_lora):
    style = _upload(admin_client, tiny_lora)
    form = {**_style_form(b"", "x"), "lora_file": "", "slug": style.slug}
    page = admin_client.post(f"/admin/generation/style/{style.pk}/change/", form)
    assert page.status_code == 200
    assert "This style&#x27;s LoRA has not passed its check against the base model" in page.content.decode()
    listed = admin_client.post("/admin/generation/style/", _list_edit(style, active=True))
    assert listed.status_code == 200
    assert "This style&#x27;s LoRA has not passed its check against the base model" in listed.content.decode()
    style.refresh_from_db()
    assert style.is_active is False


def _list_edit(style: Style, *, active: bool) -> dict:
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(style.pk),
        "form-0-ordering": "0",
        "_save": "Save",
    }
    if active:
        data["form-0-is_active"] = "on"
    return data


SDXL_MISFIT_REASON = (
    "The inpaint pipeline cannot load it: NoMatchingPeftModuleError: Target modules "
    "{'down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_q'} not found in the base model. "
    "Please check the target modules and try again."
)


@pytest.mark.django_db(transaction=True)
def test_a_lora_that_does_not_fit_is_rejected_with_the_workers_reason(admin_client, redis_clean):
    from generation import services

    style = _upload(admin_client, _safetensors(_sdxl_pair()))
    _run_checks()
    style.refresh_from_db()
    assert (style.is_active, style.lora_status, style.lora_sha256) == (False, "rejected", "")
    assert style.lora_message == SDXL_MISFIT_REASON
    assert style.lora_check_job.status == "succeeded", "a clear answer, not a failed job"
    assert f">rejected: {SDXL_MISFIT_REASON}<".replace("'", "&#x27;") in _list_row(admin_client, style)
    assert services.style_spec(style).lora is None
    listed = admin_client.post("/admin/generation/style/", _list_edit(style, active=True))
    assert "This style&#x27;s LoRA has not passed" in listed.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_lora_that_fits_is_pinned_and_its_style_can_go_live(admin_client, redis_clean, tiny_lora):
    from generation import services

    style = _upload(admin_client, tiny_lora)
    _run_checks()
    style.refresh_from_db()
    assert (style.is_active, style.lora_status) == (False, "ready")
    assert style.lora_sha256 == hashlib.sha256(tiny_lora).hexdigest()
    assert ">ready<" in _list_row(admin_client, style)
    response = admin_client.post("/admin/generation/style/", _list_edit(style, active=True))
    assert response.status_code == 302
    style.refresh_from_db()
    assert style.is_active is True
    lora = services.style_spec(style).lora
    assert (lora.key, lora.sha256, lora.weight) == (style.lora_file.name, style.lora_sha256, 0.8)


@pytest.mark.django_db(transaction=True)
def test_only_the_latest_check_of_the_current_file_counts(admin_client, redis_clean, tiny_lora):
    style = _upload(admin_client, tiny_lora)
    first = style.lora_check_job
    form = {**_style_form(_safetensors(_sdxl_pair()), "again.safetensors"), "slug": style.slug}
    assert admin_client.post(f"/admin/generation/style/{style.pk}/change/", form).status_code == 302
    style.refresh_from_db()
    assert style.lora_check_job != first
    _run_checks()  # the first file's "yes" arrives first, and is not about the file the style has now
    first.refresh_from_db()
    style.refresh_from_db()
    assert first.status == "succeeded"
    assert (style.lora_status, style.lora_sha256, style.lora_message) == ("rejected", "", SDXL_MISFIT_REASON)


@pytest.mark.django_db(transaction=True)
def test_a_check_that_failed_says_so_and_can_be_run_again(admin_client, redis_clean, tiny_lora):
    from generation import services

    style = _upload(admin_client, tiny_lora)
    services.job_fail(job_id=style.lora_check_job_id, code="worker_lost", message="The GPU worker stopped.")
    assert ">check failed: The GPU worker stopped.; check it again<" in _list_row(admin_client, style)
    response = admin_client.post(
        "/admin/generation/style/", {"action": "check_lora", "_selected_action": [str(style.pk)]}
    )
    assert response.status_code == 302
    style.refresh_from_db()
    assert (style.lora_status, style.lora_check_job.status) == ("checking", "queued")
    _run_checks()
    style.refresh_from_db()
    assert style.lora_status == "ready"


@pytest.mark.django_db(transaction=True)
def test_a_live_lora_accepted_before_the_check_existed_goes_off_when_it_does_not_fit(admin_client, redis_clean):
    """Styles from before the check (or after the base model was replaced): checked again from the
    list, they stay live while checked, and go off if the answer is no."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    data = _safetensors(_sdxl_pair())
    key = default_storage.save("styles/loras/old.safetensors", ContentFile(data))
    style = Style.objects.create(
        slug="old", name_en="Old", name_ko="옛날", lora_file=key, lora_sha256=hashlib.sha256(data).hexdigest()
    )
    assert ">not checked against the base model<" in _list_row(admin_client, style)
    admin_client.post("/admin/generation/style/", {"action": "check_lora", "_selected_action": [str(style.pk)]})
    style.refresh_from_db()
    assert (style.is_active, style.lora_status) == (True, "checking")
    _run_checks()
    style.refresh_from_db()
    assert (style.is_active, style.lora_status, style.lora_sha256) == (False, "rejected", "")


@pytest.mark.django_db
def test_the_database_refuses_a_live_style_with_an_unchecked_lora():
    from django.db import IntegrityError

    with pytest.raises(IntegrityError, match="style_live_lora_checked"):
        Style.objects.create(slug="x", name_en="X", name_ko="엑스", lora_file="styles/loras/x.safetensors")


# ---- end to end: the admin's upload, the real GPU worker process, the answer on the admin's list ----


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_rejects_an_sdxl_lora_and_passes_one_made_for_the_base_model(
    admin_client, redis_clean, tiny_lora
):
    from tests.conftest import run_django_worker_burst, run_gpu_worker_burst

    misfit = _upload(admin_client, _safetensors(_sdxl_pair()), slug="sdxl-lora")
    fits = _upload(admin_client, tiny_lora, slug="tiny-lora")
    worker = run_gpu_worker_burst(timeout=540)
    assert worker.returncode == 0, worker.stderr[-3000:]
    run_django_worker_burst()
    misfit.refresh_from_db()
    fits.refresh_from_db()
    assert (misfit.lora_status, misfit.is_active, fits.lora_status) == ("rejected", False, "ready")
    assert misfit.lora_message.startswith("The inpaint pipeline cannot load it: NoMatchingPeftModuleError")
    row = _list_row(admin_client, misfit)
    assert ">rejected: The inpaint pipeline cannot load it: NoMatchingPeftModuleError: Target modules" in row
    assert admin_client.post("/admin/generation/style/", _list_edit(fits, active=True)).status_code == 302
    fits.refresh_from_db()
    assert fits.is_active is True
