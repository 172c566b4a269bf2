"""The pose ControlNet role: load it (plain or union), build its tiny twin and its full-size architecture.

Real weights are an SDXL OpenPose ControlNet (`ControlNetModel`, e.g. thibaud/controlnet-openpose-sdxl-1.0)
or a union ControlNet whose OpenPose mode we select (`ControlNetUnionModel`, e.g.
xinsir/controlnet-union-sdxl-1.0). The saved config's `_class_name` says which; nothing else differs
for the caller but the pipeline class (see stages/pose_control.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gpu_worker.registry import ModelRegistry

UNION_CLASS = "ControlNetUnionModel"
# ControlNet's "zero convolutions" (and the union model's zero-initialised projection) start at 0,
# so an untrained ControlNet adds exactly nothing to the UNet. The tiny twin randomises them
# (otherwise no test could ever see the control image change a picture) and amplifies the small
# control-image encoder, whose default-initialised output is too faint to survive the tiny VAE
# (measured: the picture of a noise skeleton vs a black one then differed by 1 grey level at most).
_ZERO_CONV_STD = 0.3
_CONDITION_GAIN = 3.0
_ZERO_INITIALISED = (
    "controlnet_cond_embedding.conv_out",
    "controlnet_down_blocks",
    "controlnet_mid_block",
    "spatial_ch_projs",
)
# The tiny VAE halves the image (2 blocks), so the control image's embedding downsamples once (2 channel
# stages); real SDXL's VAE divides by 8, matched by diffusers' default four stages (16, 32, 96, 256).
_TINY_CONDITIONING_CHANNELS = (8, 16)


def saved_class_name(source: Path) -> str:
    """The model class a saved ControlNet directory declares (its config.json's `_class_name`)."""
    config = source / "config.json"
    if not config.is_file():
        return "ControlNetModel"
    return str(json.loads(config.read_text()).get("_class_name", "ControlNetModel"))


def load_pose_control(registry: ModelRegistry, source: Path) -> Any:
    from diffusers import ControlNetModel, ControlNetUnionModel

    model_class = ControlNetUnionModel if saved_class_name(source) == UNION_CLASS else ControlNetModel
    model = model_class.from_pretrained(source, dtype=registry.dtype, use_safetensors=True, local_files_only=True)
    return model.to(registry.device).eval()


def is_union(controlnet: Any) -> bool:
    from diffusers import ControlNetUnionModel

    return isinstance(controlnet, ControlNetUnionModel)


def _tiny_unet():
    """The tiny txt2img UNet, exactly as the txt2img twin has it (same seed, same weights)."""
    from gpu_worker.tiny_models import _sdxl_components

    return _sdxl_components(unet_in_channels=4)["unet"]


def _randomise_tiny_control(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(_ZERO_INITIALISED):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * _ZERO_CONV_STD)
            elif name.startswith("controlnet_cond_embedding") and name.endswith("weight"):
                parameter.mul_(_CONDITION_GAIN)


def build_tiny_pose_control(target: Path) -> None:
    """A random-weight ControlNetModel shaped like the tiny txt2img UNet (its encoder copied from it,
    as ControlNet training starts), with non-zero zero-convolutions so the control image matters."""
    from diffusers import ControlNetModel

    from gpu_worker.tiny_models import TINY_SEED

    unet = _tiny_unet()
    torch.manual_seed(TINY_SEED + 100)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=_TINY_CONDITIONING_CHANNELS)
    _randomise_tiny_control(controlnet, TINY_SEED + 101)
    controlnet.save_pretrained(target, safe_serialization=True)


def build_tiny_pose_control_union(target: Path) -> None:
    """The union variant (ControlNet++ architecture) at the same toy size, for loader and pipeline tests."""
    from diffusers import ControlNetUnionModel

    from gpu_worker.tiny_models import TINY_SEED

    unet = _tiny_unet()
    config = unet.config
    torch.manual_seed(TINY_SEED + 200)
    controlnet = ControlNetUnionModel(
        in_channels=config.in_channels,
        down_block_types=config.down_block_types,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        norm_num_groups=config.norm_num_groups,
        cross_attention_dim=config.cross_attention_dim,
        transformer_layers_per_block=config.transformer_layers_per_block,
        attention_head_dim=config.attention_head_dim,
        use_linear_projection=config.use_linear_projection,
        addition_embed_type=config.addition_embed_type,
        addition_time_embed_dim=config.addition_time_embed_dim,
        projection_class_embeddings_input_dim=config.projection_class_embeddings_input_dim,
        conditioning_embedding_out_channels=_TINY_CONDITIONING_CHANNELS,
        # The control-type transformer runs on the first block's features: its width must match.
        num_trans_channel=config.block_out_channels[0],
        num_trans_head=2,
        num_proj_channel=config.block_out_channels[0],
    )
    controlnet.load_state_dict(unet.state_dict(), strict=False)  # the shared encoder starts as the UNet's
    _randomise_tiny_control(controlnet, TINY_SEED + 201)
    controlnet.save_pretrained(target, safe_serialization=True)


def build_full_pose_control(dtype: torch.dtype, device: torch.device) -> Any:
    """SDXL's ControlNet (the config of thibaud/controlnet-openpose-sdxl-1.0 and diffusers'
    controlnet-canny-sdxl-1.0: SDXL base's encoder + mid block, zero convs, 4-stage condition
    embedding) with random weights: the same shapes and FLOPs as real OpenPose weights."""
    from diffusers import ControlNetModel

    with torch.device(device):
        model = ControlNetModel(
            in_channels=4,
            conditioning_channels=3,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            cross_attention_dim=2048,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
            conditioning_embedding_out_channels=(16, 32, 96, 256),
        )
    return model.to(dtype).eval()
