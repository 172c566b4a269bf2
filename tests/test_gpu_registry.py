"""The tiny preset builds real model classes, saves them, and loads them back through the registry."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from gpu_worker.config import WorkerConfig, WorkerConfigError
from gpu_worker.registry import ModelRegistry, ModelSourceError, resolve_local_source


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(WorkerConfig.from_env())


def test_hub_access_is_off_in_the_gpu_tier(registry):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert registry.config.model_preset == "tiny"


def test_models_load_once_per_process(registry):
    first = registry.get("upscaler")
    assert registry.get("upscaler") is first
    assert registry.identifiers()["upscaler"].startswith("tiny:")
    # Personal models record the base they were trained on: the trainer's is the txt2img base's.
    assert registry.identifier("trainer") == registry.identifier("txt2img") == "tiny:txt2img:seed1234"


def test_tiny_inpaint_pipeline_is_sdxl_and_paints_the_requested_size(registry):
    from diffusers import StableDiffusionXLInpaintPipeline

    pipe = registry.get("inpaint")
    assert isinstance(pipe, StableDiffusionXLInpaintPipeline)
    assert pipe.unet.config.in_channels == 9
    image = Image.new("RGB", (64, 48), (120, 90, 60))
    mask = Image.new("L", (64, 48), 255)
    out = pipe(
        prompt="a plant on a desk",
        image=image,
        mask_image=mask,
        width=64,
        height=48,
        num_inference_steps=2,
        strength=1.0,
        generator=torch.Generator().manual_seed(0),
        output_type="pil",
    ).images[0]
    assert out.size == (64, 48)
    assert np.asarray(out).std() > 0


def test_tiny_detector_is_grounding_dino_and_returns_boxes(registry):
    from transformers import GroundingDinoForObjectDetection

    detector = registry.get("detector")
    assert isinstance(detector.model, GroundingDinoForObjectDetection)
    image = Image.new("RGB", (96, 64), (200, 180, 150))
    inputs = detector.processor(images=image, text="monitor. lamp.", return_tensors="pt")
    with torch.no_grad():
        outputs = detector.model(**inputs)
    results = detector.processor.post_process_grounded_object_detection(
        outputs, inputs.input_ids, threshold=0.0, text_threshold=0.0, target_sizes=[(64, 96)]
    )
    boxes = results[0]["boxes"]
    assert boxes.shape[1] == 4
    assert boxes.shape[0] > 0


def test_tiny_segmenter_is_sam2_and_returns_masks_for_a_box(registry):
    from transformers import Sam2Model

    model = registry.get("segmenter")
    assert isinstance(model, Sam2Model)
    size = model.config.vision_config.backbone_config.image_size[0]
    pixels = torch.rand(1, 3, size, size)
    with torch.no_grad():
        outputs = model(
            pixel_values=pixels, input_boxes=torch.tensor([[[10.0, 10.0, 80.0, 90.0]]]), multimask_output=False
        )
    assert outputs.pred_masks.shape[:3] == (1, 1, 1)


def test_tiny_upscaler_doubles_each_side(registry):
    model = registry.get("upscaler")
    with torch.no_grad():
        out = model(torch.rand(1, 3, 20, 30))
    assert out.shape == (1, 3, 40, 60)


def test_real_preset_needs_the_sources_of_the_served_workflows_only_and_never_downloads(monkeypatch, tmp_path):
    from gpu_worker.workflow import model_roles, served_workflows

    monkeypatch.setenv("ONTOP_GPU_MODEL_PRESET", "real")
    registry = ModelRegistry(WorkerConfig.from_env())
    everything = model_roles(served_workflows(()))
    assert registry.missing_sources(everything) == [
        "ONTOP_GPU_MODEL_INPAINT",
        "ONTOP_GPU_MODEL_DETECTOR",
        "ONTOP_GPU_MODEL_SEGMENTER",
        "ONTOP_GPU_MODEL_UPSCALER",
        "ONTOP_GPU_MODEL_TXT2IMG",
        "ONTOP_GPU_MODEL_POSE_CONTROL",
        "ONTOP_GPU_MODEL_POSE_ESTIMATOR",
    ]
    diary_only = model_roles(served_workflows(("picture_diary",)))
    assert registry.missing_sources(diary_only) == ["ONTOP_GPU_MODEL_TXT2IMG", "ONTOP_GPU_MODEL_UPSCALER"]
    with pytest.raises(ModelSourceError, match="ONTOP_GPU_MODEL_TXT2IMG is not set"):
        registry.get("txt2img")
    with pytest.raises(ModelSourceError, match="not in the local Hugging Face cache"):
        resolve_local_source("someone/model-that-is-not-cached")
    for role in ("inpaint", "detector", "segmenter", "upscaler"):
        monkeypatch.setenv(f"ONTOP_GPU_MODEL_{role.upper()}", str(tmp_path / f"missing-{role}"))
    registry = ModelRegistry(WorkerConfig.from_env())
    with pytest.raises(ModelSourceError, match="neither a local path"):
        registry.get("upscaler")


def test_unknown_workflows_and_shared_queues_are_configuration_errors():
    from gpu_worker.workflow import queues_for, served_workflows

    with pytest.raises(WorkerConfigError, match="unknown workflows: paint_the_cat"):
        served_workflows(("paint_the_cat",))
    assert queues_for(served_workflows(("picture_diary",))) == ("gpu-diary",)
    assert queues_for(served_workflows(())) == ("gpu", "gpu-studio", "gpu-diary", "gpu-train")
    assert queues_for(served_workflows(("subject_training",))) == ("gpu-train",)
    also = "queue 'gpu' also carries lora_check, preview, subject_photo_check jobs"
    with pytest.raises(WorkerConfigError, match=also):
        queues_for(served_workflows(("desk_makeover",)))
    with pytest.raises(WorkerConfigError, match="ONTOP_GPU_QUEUES names default, which no served workflow uses"):
        queues_for(served_workflows(("picture_diary",)), ("gpu-diary", "default"))


def test_tiny_txt2img_pipeline_is_sdxl_base_and_paints_the_requested_size(registry):
    from diffusers import StableDiffusionXLPipeline

    pipe = registry.get("txt2img")
    assert isinstance(pipe, StableDiffusionXLPipeline)
    assert pipe.unet.config.in_channels == 4
    out = pipe(
        prompt="a walk in the park",
        width=64,
        height=48,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="pil",
    ).images[0]
    assert out.size == (64, 48)
    assert np.asarray(out).std() > 0


@pytest.mark.parametrize("first", ["inpaint", "txt2img"])
def test_sdxl_pipelines_from_the_same_weights_share_their_components_whichever_loads_first(first, monkeypatch):
    """SDXL base weights load as either pipeline: the second must not be a second copy."""
    base = ModelRegistry(WorkerConfig.from_env()).source("txt2img")
    monkeypatch.setenv("ONTOP_GPU_MODEL_PRESET", "real")
    for role in ("inpaint", "txt2img"):
        monkeypatch.setenv(f"ONTOP_GPU_MODEL_{role.upper()}", str(base))
    registry = ModelRegistry(WorkerConfig.from_env())
    registry.get(first)
    inpaint, txt2img = registry.get("inpaint"), registry.get("txt2img")
    assert (type(inpaint).__name__, type(txt2img).__name__) == (
        "StableDiffusionXLInpaintPipeline",
        "StableDiffusionXLPipeline",
    )
    assert txt2img.unet is inpaint.unet
    assert txt2img.vae is inpaint.vae
    assert txt2img.text_encoder_2 is inpaint.text_encoder_2
    assert registry.pipeline_lock(txt2img) is registry.pipeline_lock(inpaint)


def test_the_trainer_is_its_own_copy_of_the_text_to_image_base_with_that_base_s_identity(monkeypatch):
    """Training adds an adapter and tokens to its pipeline: it must never be the one that paints."""
    base = ModelRegistry(WorkerConfig.from_env()).source("txt2img")
    monkeypatch.setenv("ONTOP_GPU_MODEL_PRESET", "real")
    registry = ModelRegistry(WorkerConfig.from_env())
    assert registry.missing_sources(("trainer",)) == ["ONTOP_GPU_MODEL_TXT2IMG"]
    with pytest.raises(ModelSourceError, match="ONTOP_GPU_MODEL_TXT2IMG is not set"):
        registry.get("trainer")
    monkeypatch.setenv("ONTOP_GPU_MODEL_TXT2IMG", str(base))
    registry = ModelRegistry(WorkerConfig.from_env())
    trainer, txt2img = registry.get("trainer"), registry.get("txt2img")
    assert type(trainer).__name__ == "StableDiffusionXLPipeline"
    assert trainer.unet is not txt2img.unet
    assert trainer.text_encoder is not txt2img.text_encoder
    assert registry.identifier("trainer") == registry.identifier("txt2img") == f"real:{base}"
    monkeypatch.setenv("ONTOP_GPU_MODEL_TRAINER", "/nowhere/else")
    assert ModelRegistry(WorkerConfig.from_env()).identifier("trainer") == "real:/nowhere/else"


def test_an_inpainting_checkpoint_cannot_serve_text_to_image(monkeypatch):
    inpainting = ModelRegistry(WorkerConfig.from_env()).source("inpaint")
    monkeypatch.setenv("ONTOP_GPU_MODEL_PRESET", "real")
    monkeypatch.setenv("ONTOP_GPU_MODEL_TXT2IMG", str(inpainting))
    with pytest.raises(ModelSourceError, match="inpainting checkpoint \\(9-channel UNet\\)"):
        ModelRegistry(WorkerConfig.from_env()).get("txt2img")


def test_a_misspelt_model_variable_is_a_configuration_error(monkeypatch):
    from gpu_worker.config import MODEL_SOURCE_NAMES
    from gpu_worker.registry import MODEL_ROLES

    assert set(MODEL_SOURCE_NAMES) == {*MODEL_ROLES, "vae"}
    monkeypatch.setenv("ONTOP_GPU_MODEL_INPAIN", "/models/sdxl")
    with pytest.raises(WorkerConfigError, match="ONTOP_GPU_MODEL_INPAIN: no such model role"):
        WorkerConfig.from_env()
