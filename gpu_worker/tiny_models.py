"""The `tiny` preset: small random-weight models of the *real* classes.

Each builder writes a model directory with `save_pretrained` (or a safetensors file for the
upscaler) so it is loaded back through exactly the code path real weights use. Built once
per machine under the model dir; everything is seeded so two builds are identical.
Tiny models paint noise: they exist to exercise the code, not to make pretty pictures.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

TINY_SEED = 1234
# Words the tiny text tokenizers know whole; anything else falls back to characters.
_TINY_WORDS = [
    "desk",
    "table",
    "monitor",
    "keyboard",
    "mouse",
    "laptop",
    "speaker",
    "lamp",
    "plant",
    "mug",
    "cup",
    "book",
    "phone",
    "headphones",
    "chair",
    "shelf",
    "organizer",
    "mat",
    "stand",
    "light",
    "clock",
    "frame",
    "pen",
    "notebook",
    "tablet",
    "cable",
]


def _clip_tokenizer():
    """A CLIP BPE tokenizer with no hub access: byte symbols, their end-of-word forms, no merges."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {token: i for i, token in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _sdxl_components(*, unet_in_channels: int) -> dict:
    """The SDXL parts at toy size: a 2-block UNet, a small VAE, two tiny CLIP text encoders.

    Seeded, so the text encoders and VAE of the inpaint and txt2img twins are identical (as they
    are in real SDXL); only the UNet's input (9 channels for inpainting, 4 for text-to-image) differs.
    Style LoRAs target the attention layers, so one LoRA file fits both.
    """
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(TINY_SEED)
    vae = AutoencoderKL(
        block_out_channels=[16, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=16,
        sample_size=128,
    )
    tokenizer = _clip_tokenizer()
    text_config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=len(tokenizer),
        hidden_act="gelu",
        projection_dim=32,
    )
    text_encoder = CLIPTextModel(text_config)
    text_encoder_2 = CLIPTextModelWithProjection(text_config)
    torch.manual_seed(TINY_SEED + unet_in_channels)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=unet_in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=80,  # 6 * 8 (time ids) + 32 (pooled text)
        cross_attention_dim=64,  # 32 + 32: both text encoders' hidden states, concatenated
        norm_num_groups=16,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    return {
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer,
        "unet": unet,
        "scheduler": scheduler,
    }


def build_inpaint(target: Path) -> None:
    """A StableDiffusionXLInpaintPipeline with a 9-channel toy UNet and tiny CLIPs."""
    from diffusers import StableDiffusionXLInpaintPipeline

    pipeline = StableDiffusionXLInpaintPipeline(**_sdxl_components(unet_in_channels=9), requires_aesthetics_score=False)
    pipeline.save_pretrained(target, safe_serialization=True)


def build_txt2img(target: Path) -> None:
    """A StableDiffusionXLPipeline (text-to-image) with a 4-channel toy UNet and the same tiny CLIPs/VAE."""
    from diffusers import StableDiffusionXLPipeline

    StableDiffusionXLPipeline(**_sdxl_components(unet_in_channels=4)).save_pretrained(target, safe_serialization=True)


def _bert_vocab() -> dict[str, int]:
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "-"]
    tokens += list(string.ascii_lowercase) + [f"##{c}" for c in string.ascii_lowercase] + _TINY_WORDS
    return {token: i for i, token in enumerate(tokens)}


def grounding_dino_processor(*, max_text_len: int, size: dict | None = None):
    """Grounding DINO's processor with our offline BERT vocabulary (size None: the real 800/1333)."""
    from transformers import BertTokenizer, GroundingDinoImageProcessor, GroundingDinoProcessor

    image_processor = GroundingDinoImageProcessor(size=size) if size else GroundingDinoImageProcessor()
    tokenizer = BertTokenizer(vocab=_bert_vocab(), do_lower_case=True, model_max_length=max_text_len)
    return GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_detector(target: Path) -> None:
    """Grounding DINO (Swin backbone + BERT text encoder) at toy size, with its processor."""
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        SwinConfig,
    )

    torch.manual_seed(TINY_SEED)
    processor = grounding_dino_processor(max_text_len=64, size={"shortest_edge": 128, "longest_edge": 192})
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            embed_dim=16,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 2, 2],
            window_size=4,
            image_size=128,
            out_features=["stage2", "stage3", "stage4"],
        ),
        text_config=BertConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
            vocab_size=len(processor.tokenizer),
            max_position_embeddings=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # 1 breaks transformers' weight tying for the box heads
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_queries=30,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=64,
    )
    model = GroundingDinoForObjectDetection(config)
    model.save_pretrained(target, safe_serialization=True)
    processor.save_pretrained(target)


def build_segmenter(target: Path) -> None:
    """SAM 2 (Hiera backbone, FPN neck, prompt encoder, mask decoder) at toy size, with its processor."""
    from transformers import (
        Sam2Config,
        Sam2HieraDetConfig,
        Sam2MaskDecoderConfig,
        Sam2Model,
        Sam2PromptEncoderConfig,
        Sam2VisionConfig,
    )

    torch.manual_seed(TINY_SEED)
    image_size = 128
    vision = Sam2VisionConfig(
        backbone_config=Sam2HieraDetConfig(
            hidden_size=12,
            embed_dim_per_stage=[12, 24, 48, 96],
            num_attention_heads_per_stage=[1, 2, 4, 8],
            blocks_per_stage=[1, 2, 2, 1],
            window_size_per_stage=[8, 4, 4, 4],
            global_attention_blocks=[4],  # never a query-pooling block (the first of a stage)
            window_positional_embedding_background_size=[4, 4],
            image_size=[image_size, image_size],
        ),
        backbone_channel_list=[96, 48, 24, 12],
        backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        fpn_hidden_size=32,
    )
    config = Sam2Config(
        vision_config=vision,
        prompt_encoder_config=Sam2PromptEncoderConfig(hidden_size=32, image_size=image_size, patch_size=16),
        mask_decoder_config=Sam2MaskDecoderConfig(
            hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32
        ),
    )
    # No processor is saved: transformers' SAM 2 image processor needs torchvision, so the
    # segment stage does SAM 2's (simple) resize/normalise itself from the model config.
    Sam2Model(config).save_pretrained(target, safe_serialization=True)


def build_upscaler(target: Path) -> None:
    """A Real-ESRGAN-architecture (RRDBNet) x2 network with one block, saved as safetensors."""
    from safetensors.torch import save_file

    from gpu_worker.rrdbnet import RRDBNet

    torch.manual_seed(TINY_SEED)
    model = RRDBNet(scale=2, filters=8, blocks=1, growth=4)
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(target / "model.safetensors"))


def build_style_lora(inpaint_dir: Path, target_file: Path, *, seed: int, rank: int = 4) -> Path:
    """A random (non-zero) LoRA for the tiny UNets (inpaint and txt2img alike), in the diffusers
    format admins upload.

    Tests use two of these to prove that switching styles changes the picture and switching
    back restores it; peft would initialise lora_B to zero (no effect), so it is randomised.
    """
    from diffusers import StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(inpaint_dir / "unet", local_files_only=True)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    target_file.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionXLInpaintPipeline.save_lora_weights(
        target_file.parent,
        unet_lora_layers=get_peft_model_state_dict(unet),
        weight_name=target_file.name,
        safe_serialization=True,
    )
    return target_file


def build_tiny_vae(target: Path) -> None:
    """A TAESD-style AutoencoderTiny matching the tiny SDXL VAE (4 latent channels, 2x down/up
    sampling): the optional fast decoder (ONTOP_GPU_TINY_VAE) for tests and the tiny preset."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(TINY_SEED)
    AutoencoderTiny(
        encoder_block_out_channels=(16, 16),
        decoder_block_out_channels=(16, 16),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
        upsampling_scaling_factor=2,
    ).save_pretrained(target, safe_serialization=True)
