"""The two files of a personal model, and loading them onto (and off) an SDXL pipeline.

- the LoRA: diffusers' SDXL LoRA format ("unet."-prefixed peft keys, what
  `StableDiffusionXLPipeline.save_lora_weights` writes and `load_lora_weights` reads);
- the embeddings: the advanced DreamBooth recipe's format, {"clip_l": [n, 768], "clip_g": [n, 1280]}
  (one row per new token), which `load_textual_inversion` reads per text encoder.

Both are safetensors (never pickle) and carry the same metadata: the base model they were trained
on, the tokens, the format and the LoRA rank, so a personal model is never put on the wrong base.
"""

from __future__ import annotations

import json

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from gpu_worker.training.tokens import add_tokens, check_tokens, encoder_pairs, present_tokens, remove_tokens

FILE_FORMAT = "pivotal-v1"
EMBEDDING_KEYS = ("clip_l", "clip_g")  # text_encoder (CLIP ViT-L/14), text_encoder_2 (OpenCLIP bigG)
# The metadata diffusers itself writes next to LoRA weights (diffusers.loaders.lora_base).
LORA_ADAPTER_METADATA_KEY = "lora_adapter_metadata"


class BaseModelMismatch(Exception):
    pass


class AdapterFileError(ValueError):
    pass


def file_metadata(data: bytes) -> dict[str, str]:
    """The safetensors header metadata of a file held in memory (without reading its tensors)."""
    if len(data) < 8:
        raise AdapterFileError("Not a safetensors file (too short).")
    header_size = int.from_bytes(data[:8], "little")
    if header_size <= 0 or 8 + header_size > len(data):
        raise AdapterFileError("Not a safetensors file (bad header size).")
    try:
        header = json.loads(data[8 : 8 + header_size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AdapterFileError("Not a safetensors file (unreadable header).") from None
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise AdapterFileError("Not a safetensors file (bad metadata).")
    return metadata


def adapter_metadata(*, base_model: str, tokens: tuple[str, ...], rank: int, kind: str) -> dict[str, str]:
    return {
        "format": "pt",
        "ontop_base_model": base_model,
        "ontop_tokens": ",".join(tokens),
        "ontop_format": FILE_FORMAT,
        "ontop_kind": kind,  # "lora" or "embeddings"
        "rank": str(rank),
    }


def lora_file(
    state_dict: dict[str, torch.Tensor], *, lora_config: dict, metadata: dict[str, str], dtype: torch.dtype
) -> bytes:
    """A diffusers-format SDXL LoRA file: keys prefixed "unet.", diffusers' own adapter metadata."""
    config = {f"unet.{key}": sorted(value) if isinstance(value, set) else value for key, value in lora_config.items()}
    tensors = {f"unet.{key}": value.detach().to("cpu", dtype).contiguous() for key, value in state_dict.items()}
    return save_safetensors(
        tensors, metadata={**metadata, LORA_ADAPTER_METADATA_KEY: json.dumps(config, sort_keys=True, default=str)}
    )


def embeddings_file(rows: list[torch.Tensor], *, metadata: dict[str, str]) -> bytes:
    pairs = zip(EMBEDDING_KEYS, rows, strict=True)
    tensors = {key: row.detach().to("cpu", torch.float32).contiguous() for key, row in pairs}
    return save_safetensors(tensors, metadata=metadata)


def _checked_tokens(lora_metadata: dict[str, str], embeddings_metadata: dict[str, str], base_model: str):
    for name, metadata in (("LoRA", lora_metadata), ("embeddings", embeddings_metadata)):
        if metadata.get("ontop_format") != FILE_FORMAT:
            raise AdapterFileError(f"The {name} file is not an OnTop personal model ({FILE_FORMAT}).")
        trained_on = metadata.get("ontop_base_model")
        if trained_on != base_model:
            raise BaseModelMismatch(
                f"This personal model was trained on base model {trained_on!r}, but the pipeline runs "
                f"{base_model!r}; it must be retrained on {base_model!r} (or used with {trained_on!r})."
            )
    if lora_metadata.get("ontop_tokens") != embeddings_metadata.get("ontop_tokens"):
        raise AdapterFileError("The LoRA and embeddings files belong to different personal models.")
    tokens = tuple(lora_metadata.get("ontop_tokens", "").split(","))
    check_tokens(tokens)
    return tokens


def personal_model_load(
    pipeline, *, lora: bytes, embeddings: bytes, base_model: str, adapter_name: str, weight: float = 1.0
) -> tuple[str, ...]:
    """Puts a personal model on the pipeline and makes its LoRA the active adapter at `weight`.

    Checks the base model first (BaseModelMismatch). Other adapters stay loaded but inactive: to
    combine the personal model with a style, call `pipeline.set_adapters([...], weights)` after.
    Returns the tokens to write into prompts.
    """
    tokens = _checked_tokens(file_metadata(lora), file_metadata(embeddings), base_model)
    rows = load_safetensors(embeddings)
    if set(rows) != set(EMBEDDING_KEYS):
        raise AdapterFileError(f"The embeddings file must hold exactly {EMBEDDING_KEYS}; it holds {sorted(rows)}.")
    for key, (_, text_encoder) in zip(EMBEDDING_KEYS, encoder_pairs(pipeline), strict=True):
        expected = (len(tokens), text_encoder.get_input_embeddings().embedding_dim)
        if tuple(rows[key].shape) != expected:
            raise AdapterFileError(f"Embeddings {key} have shape {tuple(rows[key].shape)}; expected {expected}.")

    pipeline.load_lora_weights(load_safetensors(lora), adapter_name=adapter_name)
    pipeline.set_adapters([adapter_name], adapter_weights=[weight])
    for key, (tokenizer, text_encoder) in zip(EMBEDDING_KEYS, encoder_pairs(pipeline), strict=True):
        if not present_tokens(tokenizer, tokens):
            pipeline.load_textual_inversion(
                rows[key], token=list(tokens), text_encoder=text_encoder, tokenizer=tokenizer
            )
        else:
            # load_textual_inversion refuses tokens the tokenizer knows: the toy pipeline's
            # shared tokenizer (second encoder), or the same tokens loaded earlier (they win).
            _write_rows(tokenizer, text_encoder, tokens, rows[key])
    return tokens


def _write_rows(tokenizer, text_encoder, tokens: tuple[str, ...], rows: torch.Tensor) -> None:
    ids = add_tokens(tokenizer, text_encoder, tokens)
    weight = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weight[ids] = rows.to(weight.device, weight.dtype)


def personal_model_unload(pipeline, adapter_name: str, tokens: tuple[str, ...]) -> None:
    """Undoes personal_model_load: the adapter is deleted, the tokens leave both tokenizers/encoders."""
    loaded = {name for names in pipeline.get_list_adapters().values() for name in names}
    if adapter_name in loaded:
        pipeline.delete_adapters([adapter_name])
    remove_tokens(pipeline, tuple(tokens))


def personal_files_check(*, lora: bytes, embeddings: bytes, base_model: str) -> tuple[str, ...]:
    """The tokens of a personal model whose two files belong together and to `base_model`."""
    return _checked_tokens(file_metadata(lora), file_metadata(embeddings), base_model)


def personal_embeddings_write(pipeline, *, embeddings: bytes, tokens: tuple[str, ...]) -> None:
    """Writes a personal model's token rows into both text encoders (adding the tokens if needed)."""
    rows = load_safetensors(embeddings)
    if set(rows) != set(EMBEDDING_KEYS):
        raise AdapterFileError(f"The embeddings file must hold exactly {EMBEDDING_KEYS}; it holds {sorted(rows)}.")
    pairs = list(zip(EMBEDDING_KEYS, encoder_pairs(pipeline), strict=True))
    # Every shape is checked before anything is written: half of one person's rows next to half of
    # another's would reach the next picture.
    for key, (_, text_encoder) in pairs:
        expected = (len(tokens), text_encoder.get_input_embeddings().embedding_dim)
        if tuple(rows[key].shape) != expected:
            raise AdapterFileError(f"Embeddings {key} have shape {tuple(rows[key].shape)}; expected {expected}.")
    for key, (tokenizer, text_encoder) in pairs:
        _write_rows(tokenizer, text_encoder, tokens, rows[key])


def personal_embeddings_blank(pipeline, tokens: tuple[str, ...]) -> None:
    """Zeroes the rows of tokens that are there: the last person's embeddings never reach a job
    that has no personal model (a prompt that happens to contain "<s0>" gets nobody's face)."""
    for tokenizer, text_encoder in encoder_pairs(pipeline):
        there = [t for t in tokens if t in present_tokens(tokenizer, tokens)]
        if not there:
            continue
        ids = tokenizer.convert_tokens_to_ids(there)
        weight = text_encoder.get_input_embeddings().weight
        with torch.no_grad():
            weight[ids] = 0
