"""New tokens in SDXL's two tokenizers/text encoders: add them, and take them out again.

SDXL has two (tokenizer, text encoder) pairs. Loaded from disk they are separate objects; the toy
pipeline built in memory shares one tokenizer between both encoders, so every helper works per
unique tokenizer and per encoder.
"""

from __future__ import annotations

import torch


def encoder_pairs(pipeline) -> list[tuple[object, torch.nn.Module]]:
    """(tokenizer, text encoder) of CLIP ViT-L ("clip_l") then of OpenCLIP ViT-bigG ("clip_g")."""
    return [(pipeline.tokenizer, pipeline.text_encoder), (pipeline.tokenizer_2, pipeline.text_encoder_2)]


def check_tokens(tokens: tuple[str, ...]) -> None:
    if not tokens:
        raise ValueError("At least one new token is needed.")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"The new tokens must be distinct; got {tokens}.")
    for token in tokens:
        if not token or any(c.isspace() for c in token) or "," in token:
            raise ValueError(f"A new token must be a non-empty word without spaces or commas; got {token!r}.")


def present_tokens(tokenizer, tokens: tuple[str, ...]) -> set[str]:
    vocab = tokenizer.get_vocab()
    return {token for token in tokens if token in vocab}


def add_tokens(tokenizer, text_encoder: torch.nn.Module, tokens: tuple[str, ...]) -> list[int]:
    """Adds the tokens that are missing (as ordinary added tokens, the way load_textual_inversion
    does, so unload_textual_inversion can remove them) and makes room for them in the encoder.
    Returns their ids; tokens already there keep their id (and their row, until overwritten)."""
    missing = [token for token in tokens if token not in present_tokens(tokenizer, tokens)]
    if missing:
        tokenizer.add_tokens(missing)
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    for token, token_id in zip(tokens, ids, strict=True):
        if tokenizer.tokenize(token) != [token]:
            raise ValueError(f"The tokenizer splits {token!r}; it cannot be one trainable token.")
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"The tokenizer has no id for {token!r}.")
    if text_encoder.get_input_embeddings().num_embeddings < len(tokenizer):
        # mean_resizing=False: the new rows are written by the caller straight away.
        text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return ids


def remove_tokens(pipeline, tokens: tuple[str, ...]) -> None:
    """Takes the tokens out of both tokenizers and both encoders (the ones that are there).

    Uses diffusers' unload_textual_inversion, which renumbers any later added tokens and drops
    their rows in the encoder. An encoder whose tokenizer was already cleaned through the other
    pair (a shared tokenizer) loses the same rows by hand.
    """
    cleaned: dict[int, list[int]] = {}  # id(tokenizer) -> the ids its removed tokens had
    for tokenizer, text_encoder in encoder_pairs(pipeline):
        if id(tokenizer) in cleaned:
            _drop_rows(text_encoder, cleaned[id(tokenizer)])
            continue
        there = [token for token in tokens if token in present_tokens(tokenizer, tokens)]
        if not there:
            continue
        removed_ids = tokenizer.convert_tokens_to_ids(there)
        pipeline.unload_textual_inversion(tokens=there, tokenizer=tokenizer, text_encoder=text_encoder)
        text_encoder.get_input_embeddings().requires_grad_(False)
        cleaned[id(tokenizer)] = removed_ids


def _drop_rows(text_encoder: torch.nn.Module, ids: list[int]) -> None:
    embedding = text_encoder.get_input_embeddings()
    keep = torch.ones(embedding.num_embeddings, dtype=torch.bool)
    keep[[i for i in ids if i < embedding.num_embeddings]] = False
    if bool(keep.all()):
        return
    weight = embedding.weight.detach()[keep.to(embedding.weight.device)].clone()
    smaller = torch.nn.Embedding(weight.shape[0], weight.shape[1], device=weight.device, dtype=weight.dtype)
    smaller.weight.data = weight
    smaller.requires_grad_(False)
    text_encoder.set_input_embeddings(smaller)
