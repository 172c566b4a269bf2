"""The pose estimator role: ViTPose through transformers (load it, build its tiny twin and its full-size architecture).

Real weights are a ViTPose checkpoint in transformers' format, e.g. usyd-community/vitpose-base-simple
(Apache-2.0, COCO-17 body keypoints, top-down: it looks at one person box at a time). The image
processor is always `VitPoseImageProcessorPil` (numpy + scipy), never the default
`VitPoseImageProcessor`, which needs torchvision: nothing in gpu_worker may import torchvision.

The model stays in float32 whatever the worker's dtype: ViTPose-base is 90M parameters and one
256x192 crop per photo, and its heatmap peaks (the keypoint scores) are what the threshold reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gpu_worker.registry import ModelRegistry

# COCO's 17 body keypoints, in the order ViTPose predicts them (its config's id2label).
COCO_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# ViTPose's input: a 256x192 (height x width) crop around the person box.
INPUT_SIZE = {"height": 256, "width": 192}
TINY_INPUT_SIZE = {"height": 64, "width": 48}


@dataclass
class PoseEstimator:
    processor: Any  # VitPoseImageProcessorPil
    model: Any  # VitPoseForPoseEstimation


def _pil_processor(**kwargs: Any):
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    return VitPoseImageProcessorPil(**kwargs)


def _config(*, hidden_size: int, layers: int, heads: int, image_size: tuple[int, int], patch: int, mlp_ratio: int):
    from transformers import VitPoseBackboneConfig, VitPoseConfig

    return VitPoseConfig(
        backbone_config=VitPoseBackboneConfig(
            image_size=list(image_size),
            patch_size=[patch, patch],
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            mlp_ratio=mlp_ratio,
            out_indices=[layers],
        ),
        use_simple_decoder=True,
        scale_factor=4,
        id2label=dict(enumerate(COCO_KEYPOINTS)),
        label2id={name: i for i, name in enumerate(COCO_KEYPOINTS)},
    )


def load_pose_estimator(registry: ModelRegistry, source: Path) -> PoseEstimator:
    from transformers import VitPoseForPoseEstimation
    from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil

    processor = VitPoseImageProcessorPil.from_pretrained(source, local_files_only=True)
    model = VitPoseForPoseEstimation.from_pretrained(source, local_files_only=True, use_safetensors=True)
    if model.config.num_labels != len(COCO_KEYPOINTS):
        from gpu_worker.registry import ModelSourceError

        raise ModelSourceError(
            f"the pose estimator at {source} predicts {model.config.num_labels} keypoints, "
            f"not COCO's {len(COCO_KEYPOINTS)}"
        )
    return PoseEstimator(processor=processor, model=model.to(device=registry.device, dtype=torch.float32).eval())


def build_tiny_pose_estimator(target: Path) -> None:
    """ViTPose at toy size (2 layers of width 32, a 64x48 input), random weights, with its processor."""
    from transformers import VitPoseForPoseEstimation

    from gpu_worker.tiny_models import TINY_SEED

    torch.manual_seed(TINY_SEED + 300)
    config = _config(hidden_size=32, layers=2, heads=2, image_size=(64, 48), patch=8, mlp_ratio=2)
    model = VitPoseForPoseEstimation(config).eval()
    model.save_pretrained(target, safe_serialization=True)
    _pil_processor(size=TINY_INPUT_SIZE).save_pretrained(target)


def build_full_pose_estimator(dtype: torch.dtype, device: torch.device) -> PoseEstimator:
    """ViTPose-base (the config of usyd-community/vitpose-base-simple: ViT-B/16 on 256x192, the simple
    decoder) with random weights: the same shapes and FLOPs as the real checkpoint."""
    from transformers import VitPoseForPoseEstimation

    config = _config(hidden_size=768, layers=12, heads=12, image_size=(256, 192), patch=16, mlp_ratio=4)
    with torch.device(device):
        model = VitPoseForPoseEstimation(config).to(dtype).eval()
    return PoseEstimator(processor=_pil_processor(size=INPUT_SIZE), model=model)
