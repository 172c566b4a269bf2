"""Full-size architectures with random weights, for speed/memory benchmarks without downloads.

Transcribed from the public configs of diffusers/stable-diffusion-xl-1.0-inpainting-0.1 and SDXL base 1.0 (UNet,
VAE, CLIP ViT-L + OpenCLIP bigG text encoders), IDEA-Research/grounding-dino-base and
facebook/sam2.1-hiera-large. Same shapes and FLOPs as the real weights; the outputs are noise.
"""

from __future__ import annotations

import torch

from gpu_worker.registry import Detector


def build_sdxl_inpaint(dtype: torch.dtype, device: torch.device):
    from diffusers import StableDiffusionXLInpaintPipeline

    pipeline = StableDiffusionXLInpaintPipeline(
        **_sdxl_components(dtype, device, unet_in_channels=9), requires_aesthetics_score=False
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def build_sdxl_txt2img(dtype: torch.dtype, device: torch.device):
    """SDXL base 1.0's text-to-image architecture: the same parts with a 4-channel UNet input."""
    from diffusers import StableDiffusionXLPipeline

    pipeline = StableDiffusionXLPipeline(**_sdxl_components(dtype, device, unet_in_channels=4))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _sdxl_components(dtype: torch.dtype, device: torch.device, *, unet_in_channels: int) -> dict:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from gpu_worker.tiny_models import _clip_tokenizer

    with torch.device(device):
        unet = UNet2DConditionModel(
            sample_size=128,
            in_channels=unet_in_channels,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            cross_attention_dim=2048,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        ).to(dtype)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            latent_channels=4,
            sample_size=1024,
            scaling_factor=0.13025,
            force_upcast=True,
        ).to(dtype)
        tokenizer = _clip_tokenizer()
        common = {
            "vocab_size": 49408,
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_attention_heads=12,
                num_hidden_layers=12,
                projection_dim=768,
                hidden_act="quick_gelu",
                **common,
            )
        ).to(dtype)
        text_encoder_2 = CLIPTextModelWithProjection(
            CLIPTextConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_attention_heads=20,
                num_hidden_layers=32,
                projection_dim=1280,
                hidden_act="gelu",
                **common,
            )
        ).to(dtype)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="leading", steps_offset=1
    )
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "tokenizer": tokenizer,
        "tokenizer_2": tokenizer,
        "unet": unet,
        "scheduler": scheduler,
    }


def build_grounding_dino(dtype: torch.dtype, device: torch.device) -> Detector:
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        SwinConfig,
    )

    from gpu_worker.tiny_models import grounding_dino_processor

    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            embed_dim=128,
            depths=[2, 2, 18, 2],
            num_heads=[4, 8, 16, 32],
            window_size=12,
            image_size=384,
            out_features=["stage2", "stage3", "stage4"],
        ),
        text_config=BertConfig(),  # bert-base-uncased shape
        d_model=256,
        num_queries=900,
        encoder_layers=6,
        decoder_layers=6,
    )
    with torch.device(device):
        model = GroundingDinoForObjectDetection(config).to(dtype).eval()
    return Detector(processor=grounding_dino_processor(max_text_len=256), model=model)


def build_sam2_large(dtype: torch.dtype, device: torch.device):
    from transformers import Sam2Config, Sam2HieraDetConfig, Sam2Model, Sam2VisionConfig

    config = Sam2Config(
        vision_config=Sam2VisionConfig(
            backbone_config=Sam2HieraDetConfig(
                hidden_size=144,
                num_attention_heads=2,
                embed_dim_per_stage=[144, 288, 576, 1152],
                num_attention_heads_per_stage=[2, 4, 8, 16],
                blocks_per_stage=[2, 6, 36, 4],
                window_size_per_stage=[8, 4, 16, 8],
                global_attention_blocks=[23, 33, 43],
                window_positional_embedding_background_size=[7, 7],
                image_size=[1024, 1024],
            ),
            backbone_channel_list=[1152, 576, 288, 144],
        ),
    )
    with torch.device(device):
        return Sam2Model(config).to(dtype).eval()


def build_realesrgan_x2(dtype: torch.dtype, device: torch.device):
    """RealESRGAN_x2plus's generator: RRDBNet, 64 filters, 23 blocks, growth 32."""
    from gpu_worker.rrdbnet import RRDBNet

    with torch.device(device):
        return RRDBNet(scale=2, filters=64, blocks=23, growth=32).to(dtype).eval()
