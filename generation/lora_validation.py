"""Validate an uploaded style LoRA before it is accepted. Web tier: no torch, no deserialising.

A .safetensors file is an 8-byte little-endian header length, a JSON header naming each tensor
(dtype, shape, byte offsets) and the raw tensor bytes. We read the header ourselves, so a
pickle (or a torch zip) is rejected by its first bytes and never loaded, and we check that
every tensor is LoRA-shaped, ranks agree, sizes add up and no weight is NaN or infinite.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024
MAX_RANK = 256
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4}
_PAIR = re.compile(r"^(?P<base>.+)\.(?P<part>lora_A|lora_B|lora_down|lora_up|lora\.down|lora\.up)\.weight$")
_ALPHA = re.compile(r"^.+\.alpha$")
_DOWN = {"lora_A", "lora_down", "lora.down"}


class LoraInvalid(ValueError):
    pass


@dataclass(frozen=True)
class LoraInfo:
    sha256: str
    size: int
    tensors: int
    rank: int


def validate_lora(handle: BinaryIO, *, max_bytes: int = MAX_FILE_BYTES) -> LoraInfo:
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(0)
    if size > max_bytes:
        raise LoraInvalid(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    head = handle.read(8)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise LoraInvalid("Pickle and PyTorch (.pt/.ckpt/.bin) files are not accepted; upload .safetensors.")
    if len(head) < 8:
        raise LoraInvalid("This is not a safetensors file (too short).")
    (header_length,) = struct.unpack("<Q", head)
    if header_length > MAX_HEADER_BYTES:
        raise LoraInvalid("The safetensors header is unreasonably large.")
    if 8 + header_length > size:
        raise LoraInvalid("The safetensors header runs past the end of the file.")
    try:
        header = json.loads(handle.read(header_length))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LoraInvalid("The safetensors header is not valid JSON.") from None
    if not isinstance(header, dict):
        raise LoraInvalid("The safetensors header must be an object.")
    header.pop("__metadata__", None)
    data_start, data_length = 8 + header_length, size - 8 - header_length
    tensors = _check_tensors(header, data_length)
    rank = _check_pairs(header)
    digest = hashlib.sha256()
    handle.seek(0)
    for chunk in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(chunk)
    _check_finite(handle, header, data_start)
    handle.seek(0)
    return LoraInfo(sha256=digest.hexdigest(), size=size, tensors=tensors, rank=rank)


def _check_tensors(header: dict, data_length: int) -> int:
    if not header:
        raise LoraInvalid("The file holds no tensors.")
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise LoraInvalid(f"Tensor {name!r} has a malformed entry.")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BYTES:
            raise LoraInvalid(f"Tensor {name!r} has dtype {dtype!r}; only F16, BF16 and F32 are accepted.")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or len(shape) > 4:
            raise LoraInvalid(f"Tensor {name!r} has a malformed shape.")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise LoraInvalid(f"Tensor {name!r} has malformed offsets.")
        begin, end = offsets
        if not 0 <= begin <= end <= data_length or end - begin != int(np.prod(shape)) * DTYPE_BYTES[dtype]:
            raise LoraInvalid(f"Tensor {name!r} does not fit its declared shape and dtype.")
        if not (_PAIR.match(name) or (_ALPHA.match(name) and shape in ([], [1]))):
            raise LoraInvalid(f"{name!r} is not a LoRA weight; only LoRA files are accepted.")
        spans.append((begin, end))
    spans.sort()
    if any(a_end > b_begin for (_, a_end), (b_begin, _) in itertools.pairwise(spans)):
        raise LoraInvalid("Tensors overlap in the file.")
    return len(header)


def _check_pairs(header: dict) -> int:
    pairs: dict[str, dict[str, list[int]]] = {}
    for name, entry in header.items():
        if match := _PAIR.match(name):
            side = "down" if match["part"] in _DOWN else "up"
            pairs.setdefault(match["base"], {})[side] = entry["shape"]
    if not pairs:
        raise LoraInvalid("The file holds no LoRA weight pairs.")
    ranks = set()
    for base, sides in pairs.items():
        if set(sides) != {"down", "up"}:
            raise LoraInvalid(f"{base!r} is missing its {'up' if 'down' in sides else 'down'} weight.")
        down, up = sides["down"], sides["up"]
        if len(down) < 2 or len(up) < 2 or down[0] != up[1]:
            raise LoraInvalid(f"{base!r} has inconsistent ranks ({down} vs {up}).")
        if not 1 <= down[0] <= MAX_RANK:
            raise LoraInvalid(f"{base!r} has rank {down[0]}; ranks must be between 1 and {MAX_RANK}.")
        ranks.add(down[0])
    return max(ranks)


def _check_finite(handle: BinaryIO, header: dict, data_start: int) -> None:
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        handle.seek(data_start + begin)
        raw = handle.read(end - begin)
        dtype = entry["dtype"]
        if dtype == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            values = np.frombuffer(raw, dtype="<f2" if dtype == "F16" else "<f4")
        if not np.isfinite(values).all():
            raise LoraInvalid(f"{name!r} contains NaN or infinite weights.")
