"""Real personal models for tests: a few pivotal-tuning steps on the tiny SDXL, saved to storage.

Each "person" is a toy subject of its own colour, trained with a learning rate far above the
recipe's so that a handful of steps moves the random model: two people's models give two
different pictures, which the isolation tests need.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_worker.contract import LoraSpec
from gpu_worker.contract.portrait import PersonalModelSpec
from gpu_worker.contract.subject_training import TOKENS
from gpu_worker.storage import Storage


def personal_model_make(
    *, storage: Storage, tiny_txt2img: Path, base_model: str, key_prefix: str, colour: tuple[int, int, int], seed: int
) -> PersonalModelSpec:
    from diffusers import StableDiffusionXLPipeline

    from gpu_worker.training import PivotalTuner, TrainingExample, TrainingSettings

    pipeline = StableDiffusionXLPipeline.from_pretrained(tiny_txt2img, local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    settings = replace(
        TrainingSettings.from_env("tiny", cuda=False), resolution=64, steps=6, unet_lr=5e-2, embedding_lr=5e-2
    )
    array = np.zeros((64, 64, 3), np.uint8)
    array[:] = colour
    array[:32, :32] = (255 - colour[0], 255 - colour[1], 255 - colour[2])
    examples = [TrainingExample(Image.fromarray(array), f"a photo of {''.join(TOKENS)} person")]
    tuner = PivotalTuner(pipeline, settings, examples, tokens=TOKENS, initializer_word="person", seed=seed)
    for _ in range(settings.steps):
        tuner.train_step()
    lora, embeddings = tuner.adapter_files(base_model=base_model)
    tuner.close()
    lora_key, embeddings_key = f"{key_prefix}lora.safetensors", f"{key_prefix}embeddings.safetensors"
    storage.write(lora_key, lora, "application/octet-stream")
    storage.write(embeddings_key, embeddings, "application/octet-stream")
    return PersonalModelSpec(
        lora=LoraSpec(key=lora_key, sha256=hashlib.sha256(lora).hexdigest()),
        embeddings_key=embeddings_key,
        embeddings_sha256=hashlib.sha256(embeddings).hexdigest(),
        tokens=list(TOKENS),
        class_word="person",
        base_model=base_model,
    )
