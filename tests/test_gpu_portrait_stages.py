"""The portrait stages on CPU with the tiny preset: derived pipelines, img2img, pose ControlNet, face detailer.

Real outputs of tiny random-weight models of the real classes; assertions are about what must be
true whatever the weights: sizes, step counts, shared components, and which pixels may change.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from gpu_worker.contract import LoraSpec
from gpu_worker.controlnet_models import build_tiny_pose_control_union, load_pose_control, saved_class_name
from gpu_worker.runtime import runtime
from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.face_detail import (
    DetailSettings,
    crop_box,
    detail,
    detail_regions,
    feather,
    feather_radius,
    paste,
    region_mask,
    work_shape,
)
from gpu_worker.stages.img2img import img2img, scheduled_steps
from gpu_worker.stages.pose_control import posed_pipeline, txt2img_posed
from gpu_worker.stages.txt2img import txt2img
from gpu_worker.tiny_models import build_style_lora

PROMPT = {"prompt": "a portrait photo", "negative_prompt": "blurry"}


@pytest.fixture(scope="module")
def models():
    return runtime().models


@pytest.fixture(scope="module")
def base(models):
    pipeline = models.get("txt2img")
    runtime().loras(pipeline).activate(None)
    return pipeline


def _photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth colour gradients plus a little noise: something for the VAE to reproduce."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs * 255 / width, ys * 255 / height, np.full_like(xs, 128.0)], -1)
    pixels += rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


# ---- derived pipelines ---------------------------------------------------------------------


def test_a_derived_pipeline_is_built_once_and_shares_every_component(base):
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline

    first = derived_pipeline(base, StableDiffusionXLImg2ImgPipeline)
    assert derived_pipeline(base, StableDiffusionXLImg2ImgPipeline) is first
    inpaint = derived_pipeline(base, StableDiffusionXLInpaintPipeline)
    assert inpaint is not first
    for name in ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"):
        assert getattr(first, name) is getattr(base, name)
        assert getattr(inpaint, name) is getattr(base, name)
    assert first._progress_bar_config == {"disable": True}


def test_deriving_keeps_a_half_precision_base_in_half_precision(models):
    """diffusers' from_pipe casts every (shared) module to float32 unless told the dtype."""
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    half = StableDiffusionXLPipeline.from_pretrained(
        models.source("txt2img"), dtype=torch.bfloat16, local_files_only=True
    )
    derived = derived_pipeline(half, StableDiffusionXLImg2ImgPipeline)
    assert half.unet.dtype == torch.bfloat16
    assert half.text_encoder_2.dtype == torch.bfloat16
    assert derived.unet is half.unet


@pytest.fixture(scope="module")
def style_lora(models, tmp_path_factory):
    path = build_style_lora(
        models.source("txt2img"), tmp_path_factory.mktemp("portrait-styles") / "s.safetensors", seed=5
    )
    key = f"styles/test-portrait/{path.name}"
    runtime().storage.write(key, path.read_bytes(), "application/octet-stream")
    return path, LoraSpec(key=key, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), weight=1.0)


def test_an_adapter_set_on_the_base_applies_to_the_derived_img2img_exactly(models, base, style_lora):
    """The same picture as an img2img pipeline of its own with the LoRA loaded into it directly."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    path, spec = style_lora
    photo = _photo(48, 64)
    kwargs = {**PROMPT, "strength": 0.6, "steps": 2, "guidance": 5.0, "seed": 7}
    loras = runtime().loras(base)
    plain = _pixels(img2img(base, photo, **kwargs))
    try:
        loras.activate(spec)
        styled = _pixels(img2img(base, photo, **kwargs))
    finally:
        loras.activate(None)
    plain_again = _pixels(img2img(base, photo, **kwargs))

    reference = StableDiffusionXLImg2ImgPipeline.from_pretrained(models.source("txt2img"), local_files_only=True)
    reference.set_progress_bar_config(disable=True)
    reference.load_lora_weights(str(path), adapter_name="style")
    alone = _pixels(img2img(reference, photo, **kwargs))

    assert not np.array_equal(plain, styled), "the adapter changes the derived pipeline's picture"
    assert np.array_equal(styled, alone), "exactly as the adapter on a pipeline of its own does"
    assert np.array_equal(plain, plain_again), "switching it off on the base switches it off here too"


# ---- img2img ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "strength", "expected"),
    [(3, 1.0, 3), (3, 0.4, 8), (3, 0.3, 10), (28, 0.4, 70), (28, 0.35, 80), (1, 0.01, 100), (5, 0.7, 8)],
)
def test_scheduled_steps_runs_exactly_the_steps_asked_for(steps, strength, expected):
    total = scheduled_steps(steps, strength)
    assert total == expected
    assert int(total * strength) == steps, "diffusers' get_timesteps runs int(total * strength)"
    assert int((total - 1) * strength) < steps, "and no shorter schedule would do"


@pytest.mark.parametrize("strength", [0.0, 1.5])
def test_scheduled_steps_refuses_a_strength_outside_0_1(strength):
    with pytest.raises(ValueError, match="strength"):
        scheduled_steps(3, strength)


@pytest.mark.parametrize("strength", [0.35, 1.0])
def test_img2img_runs_the_requested_steps_and_keeps_the_size(base, strength):
    seen: list[tuple[int, int]] = []
    photo = _photo(40, 56)  # not a multiple of 8: the caller still gets its size back
    out = img2img(
        base,
        photo,
        **PROMPT,
        strength=strength,
        steps=3,
        guidance=5.0,
        seed=1,
        on_step=lambda step, total: seen.append((step, total)),
    )
    assert out.size == (40, 56)
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_img2img_is_reproducible_by_seed_and_strength_matters(base):
    photo = _photo(48, 48)
    kwargs = {**PROMPT, "steps": 2, "guidance": 5.0}
    first = _pixels(img2img(base, photo, strength=0.5, seed=3, **kwargs))
    assert np.array_equal(first, _pixels(img2img(base, photo, strength=0.5, seed=3, **kwargs)))
    assert not np.array_equal(first, _pixels(img2img(base, photo, strength=0.5, seed=4, **kwargs)))
    # Low strength keeps more of the photo than full strength does.
    low = np.abs(_pixels(img2img(base, photo, strength=0.1, seed=3, **kwargs)) - _pixels(photo)).mean()
    full = np.abs(_pixels(img2img(base, photo, strength=1.0, seed=3, **kwargs)) - _pixels(photo)).mean()
    assert low < full


# ---- pose ControlNet -----------------------------------------------------------------------


def test_the_tiny_pose_control_role_loads_a_controlnet_shaped_like_the_txt2img_unet(models, base):
    from diffusers import ControlNetModel

    controlnet = models.get("pose_control")
    assert type(controlnet) is ControlNetModel
    assert saved_class_name(models.source("pose_control")) == "ControlNetModel"
    for key in ("block_out_channels", "cross_attention_dim", "down_block_types", "addition_time_embed_dim"):
        assert controlnet.config[key] == base.unet.config[key]
    parameter = next(controlnet.parameters())
    assert (parameter.dtype, parameter.device) == (models.dtype, models.device)
    assert not controlnet.training


@pytest.fixture(scope="module")
def union_controlnet(models, tmp_path_factory):
    target = tmp_path_factory.mktemp("union") / "pose_control"
    build_tiny_pose_control_union(target)
    return load_pose_control(models, target)


def test_a_union_controlnet_loads_as_a_union_model(union_controlnet):
    from diffusers import ControlNetUnionModel

    assert type(union_controlnet) is ControlNetUnionModel


def _skeleton(width: int, height: int, *, arm_up: bool) -> Image.Image:
    """An OpenPose-like stick figure (coloured limbs on black)."""
    from PIL import ImageDraw

    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    cx = width // 2
    draw.line([(cx, height // 5), (cx, height * 3 // 5)], fill=(255, 0, 0), width=3)
    draw.line([(cx, height // 3), (cx + width // 3, height // 8 if arm_up else height // 2)], fill=(0, 255, 0), width=3)
    draw.line([(cx, height * 3 // 5), (cx - width // 4, height - 2)], fill=(0, 0, 255), width=3)
    return image


@pytest.mark.parametrize("kind", ["plain", "union"])
def test_posed_txt2img_follows_the_control_image_and_scale_0_is_plain_txt2img(models, base, union_controlnet, kind):
    controlnet = models.get("pose_control") if kind == "plain" else union_controlnet
    kwargs = {**PROMPT, "width": 48, "height": 64, "steps": 2, "guidance": 5.0, "seed": 2}
    seen: list[tuple[int, int]] = []
    up = txt2img_posed(
        base,
        controlnet,
        control_image=_skeleton(48, 64, arm_up=True),
        control_scale=1.0,
        on_step=lambda step, total: seen.append((step, total)),
        **kwargs,
    )
    assert up.size == (48, 64)
    assert seen == [(1, 2), (2, 2)]
    down = txt2img_posed(base, controlnet, control_image=_skeleton(48, 64, arm_up=False), control_scale=1.0, **kwargs)
    off = txt2img_posed(base, controlnet, control_image=_skeleton(48, 64, arm_up=True), control_scale=0.0, **kwargs)
    plain = txt2img(base, **kwargs)
    assert not np.array_equal(_pixels(up), _pixels(down)), "another pose is another picture"
    assert not np.array_equal(_pixels(up), _pixels(plain))
    # At scale 0 the ControlNet's residuals are multiplied by 0 and added: the UNet sees exactly
    # what plain text-to-image gives it, and the seed draws the same noise, so the pictures match.
    assert np.array_equal(_pixels(off), _pixels(plain))
    posed = posed_pipeline(base, controlnet)
    assert posed.controlnet is controlnet
    assert posed.unet is base.unet


# ---- face detailer: the pure steps -----------------------------------------------------------


def test_region_mask_grows_by_dilate_px_in_every_direction():
    mask = np.zeros((7, 9), dtype=bool)
    mask[3, 4] = True
    grown = region_mask(mask, 2)
    expected = np.zeros((7, 9), dtype=bool)
    expected[1:6, 2:7] = True
    assert np.array_equal(grown, expected)
    corner = np.zeros((5, 5), dtype=bool)
    corner[0, 0] = True
    assert np.array_equal(np.argwhere(region_mask(corner, 1)), [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert np.array_equal(region_mask(mask, 0), mask)


def test_crop_box_pads_the_mask_box_and_clamps_it_to_the_image():
    mask = np.zeros((40, 60), dtype=bool)
    mask[10:20, 25:35] = True  # rows 10-19, columns 25-34
    assert crop_box(mask, 5, (60, 40)) == (20, 5, 40, 25)
    assert crop_box(mask, 12, (60, 40)) == (13, 0, 47, 32)
    assert crop_box(mask, 100, (60, 40)) == (0, 0, 60, 40)
    with pytest.raises(ValueError, match="empty mask"):
        crop_box(np.zeros((4, 4), dtype=bool), 2, (4, 4))


def test_feather_is_a_truncated_gaussian_with_a1111s_radius():
    assert feather_radius(4) == 10  # cv2 kernel 21 x 21 for mask blur 4
    assert feather_radius(1) == 3
    mask = np.zeros((11, 11), dtype=bool)
    mask[5, 5] = True
    alpha = feather(mask, 1)
    k = np.exp(-0.5 * np.arange(-3, 4) ** 2)
    k /= k.sum()
    expected = np.zeros((11, 11))
    expected[2:9, 2:9] = np.outer(k, k)
    assert alpha.dtype == np.float32
    assert np.allclose(alpha, expected, atol=1e-7)
    assert alpha[1].max() == 0, "nothing beyond the radius"
    assert alpha[:, 9:].max() == 0
    block = np.zeros((30, 30), dtype=bool)
    block[5:25, 5:25] = True
    soft = feather(block, 2)
    assert soft[15, 15] == pytest.approx(1.0, abs=1e-6)
    assert soft[15, 4] == pytest.approx(0.5 - (soft[15, 5] - 0.5), abs=1e-6), "symmetric about the edge"
    assert np.array_equal(feather(block, 0), block.astype(np.float32))


def test_paste_blends_inside_the_box_only():
    original = Image.fromarray(np.full((10, 12, 3), 100, dtype=np.uint8))
    painted = Image.fromarray(np.full((4, 6, 3), 200, dtype=np.uint8))
    alpha = np.zeros((10, 12), dtype=np.float32)
    alpha[3:7, 2:8] = 1.0
    alpha[3, 2] = 0.25
    alpha[0, 0] = 1.0  # outside the box: ignored
    out = np.asarray(paste(original, painted, (2, 3, 8, 7), alpha)).astype(int)
    assert out[4:7, 3:8].min() == 200
    assert out[3, 2, 0] == 125
    assert out[0, 0, 0] == 100
    outside = np.ones((10, 12), dtype=bool)
    outside[3:7, 2:8] = False
    assert (out[outside] == 100).all()


def test_work_shape_keeps_the_aspect_in_multiples_of_8():
    assert work_shape((0, 0, 100, 100), 1024) == (1024, 1024)
    assert work_shape((10, 20, 110, 220), 1024) == (512, 1024)
    assert work_shape((0, 0, 300, 97), 64) == (64, 24)
    assert work_shape((0, 0, 500, 3), 64) == (64, 8)


def test_settings_have_adetailers_defaults_and_a_tiny_preset():
    real = DetailSettings.for_preset("real")
    assert real == DetailSettings()
    assert (real.confidence, real.dilate_px, real.blur_px, real.pad_px) == (0.3, 4, 4, 32)
    assert (real.strength, real.steps, real.guidance, real.work_size) == (0.4, 28, 7.0, 1024)
    tiny = DetailSettings.for_preset("tiny")
    assert tiny.work_size < real.work_size
    assert tiny.steps < real.steps


# ---- face detailer: repainting ---------------------------------------------------------------

SETTINGS = replace(DetailSettings.for_preset("tiny"), pad_px=6, blur_px=2, dilate_px=2)


def _face_mask(width: int = 96, height: int = 80) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return (xs - 40) ** 2 / 12**2 + (ys - 30) ** 2 / 15**2 <= 1  # an oval face


def test_the_detailer_changes_only_the_feathered_face_inside_its_crop_box(base):
    photo = _photo(96, 80, seed=3)
    mask = _face_mask()
    seen: list[tuple[int, int]] = []
    result = detail_regions(
        photo,
        [mask],
        base=base,
        **PROMPT,
        seed=5,
        settings=SETTINGS,
        on_step=lambda step, total: seen.append((step, total)),
    )
    region = region_mask(mask, SETTINGS.dilate_px)
    box = crop_box(region, max(SETTINGS.pad_px, feather_radius(SETTINGS.blur_px)), photo.size)
    assert result.regions == 1
    assert result.boxes == [box]
    assert result.image.size == photo.size
    assert seen == [(1, 2), (2, 2)], "the steps asked for are the steps run"
    before, after = _pixels(photo), _pixels(result.image)
    changed = (before != after).any(axis=-1)
    x0, y0, x1, y1 = box
    inside_box = np.zeros_like(changed)
    inside_box[y0:y1, x0:x1] = True
    assert not changed[~inside_box].any(), "outside the crop box: bit for bit the same"
    alpha = feather(region, SETTINGS.blur_px)
    assert not changed[alpha == 0].any(), "where the feathered mask is 0 nothing changes either"
    assert changed[mask].mean() > 0.5, "the face itself is repainted"


def test_regions_are_the_largest_first_and_at_most_max_regions(base):
    photo = _photo(96, 80, seed=4)
    small = np.zeros((80, 96), dtype=bool)
    small[60:66, 80:86] = True
    empty = np.zeros((80, 96), dtype=bool)
    seen: list[tuple[int, int]] = []
    result = detail_regions(
        photo,
        [small, _face_mask(), empty],
        base=base,
        **PROMPT,
        seed=5,
        settings=SETTINGS,
        on_step=lambda step, total: seen.append((step, total)),
        max_regions=2,
    )
    assert result.regions == 2, "an empty mask is no region"
    assert result.boxes[0][0] < result.boxes[1][0], "the face (larger) first"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    only_face = detail_regions(
        photo, [small, _face_mask()], base=base, **PROMPT, seed=5, settings=SETTINGS, max_regions=1
    )
    assert only_face.boxes == result.boxes[:1]


def test_no_region_and_no_detection_leave_the_picture_identical(models, base):
    photo = _photo(96, 80, seed=6)
    assert np.array_equal(
        _pixels(detail_regions(photo, [], base=base, **PROMPT, seed=1, settings=SETTINGS).image), _pixels(photo)
    )
    # A confidence no score can reach: the real tiny detector runs and finds nothing.
    result = detail(
        photo,
        base=base,
        detector=models.get("detector"),
        segmenter=models.get("segmenter"),
        **PROMPT,
        seed=1,
        settings=replace(SETTINGS, confidence=1.01),
    )
    assert (result.regions, result.boxes) == (0, [])
    assert np.array_equal(_pixels(result.image), _pixels(photo))


def test_detect_segment_and_detail_end_to_end(models, base):
    """The tiny detector is random, but at confidence 0 it boxes something: whatever it boxes is all
    that may change."""
    photo = _photo(96, 80, seed=7)
    result = detail(
        photo,
        base=base,
        detector=models.get("detector"),
        segmenter=models.get("segmenter"),
        **PROMPT,
        seed=1,
        target="hand",
        settings=replace(SETTINGS, confidence=0.0),
        max_regions=1,
    )
    assert result.regions == 1
    x0, y0, x1, y1 = result.boxes[0]
    changed = (_pixels(photo) != _pixels(result.image)).any(axis=-1)
    changed[y0:y1, x0:x1] = False
    assert not changed.any()
    with pytest.raises(ValueError, match="target"):
        detail(photo, base=base, detector=None, segmenter=None, **PROMPT, seed=1, target="feet", settings=SETTINGS)


def test_math_of_the_padded_crop_covers_the_feather():
    """The crop box is padded by at least the feather radius, so the blend never ends at a hard edge."""
    mask = np.zeros((60, 60), dtype=bool)
    mask[28:32, 28:32] = True
    alpha = feather(mask, 4)
    box = crop_box(mask, max(1, feather_radius(4)), (60, 60))
    ys, xs = np.nonzero(alpha)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == box
    assert math.isclose(float(alpha.sum()), float(mask.sum()), rel_tol=1e-5)
