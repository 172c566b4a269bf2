"""Style LoRA uploads: only sane, LoRA-shaped safetensors get in; nothing is ever unpickled."""

from __future__ import annotations

import io
import json
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
def test_admin_accepts_a_lora_and_records_its_hash(admin_client, tmp_path):
    path = build_style_lora(runtime().models.source("inpaint"), tmp_path / "cozy.safetensors", seed=2)
    response = admin_client.post("/admin/generation/style/add/", _style_form(path.read_bytes(), "cozy.safetensors"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    style = Style.objects.get(slug="cozy-lora")
    import hashlib

    assert style.lora_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert style.lora_file.name.endswith(".safetensors")


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
