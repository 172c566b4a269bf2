"""Every stage of the desk makeover on CPU with the tiny preset, with real assertions."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_worker.contract import ContractError, LoraSpec
from gpu_worker.loras import LoraUnavailable, adapter_name
from gpu_worker.runtime import runtime
from gpu_worker.stages.detect import detect
from gpu_worker.stages.inpaint import inpaint
from gpu_worker.stages.locate import locate
from gpu_worker.stages.normalise import normalise, sdxl_bucket, to_original_framing
from gpu_worker.stages.segment import segment
from gpu_worker.stages.types import Detection
from gpu_worker.stages.upscale import upscale
from gpu_worker.tiny_models import build_style_lora
from gpu_worker.workflows.desk_makeover.desk_check import check_desk, is_desk
from gpu_worker.workflows.desk_makeover.errors import NoFreeSpace, NotADesk
from gpu_worker.workflows.desk_makeover.labels import DESK_ITEMS, DESK_LABELS
from gpu_worker.workflows.desk_makeover.mask import build_mask, composite
from tests.photos import make_desk_photo


@pytest.fixture(scope="module")
def models():
    return runtime().models


@pytest.fixture(scope="module")
def desk_image() -> Image.Image:
    import io

    return Image.open(io.BytesIO(make_desk_photo((192, 128)))).convert("RGB")


# ---- normalise ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(4032, 3024), (3024, 4032), (1920, 1080), (1080, 1920), (1000, 1000), (640, 480)])
def test_bucket_keeps_the_aspect_ratio_at_one_megapixel(size):
    width, height = sdxl_bucket(*size, target_pixels=1024 * 1024)
    assert width % 64 == 0
    assert height % 64 == 0
    assert abs(math.log((width / height) / (size[0] / size[1]))) < 0.05
    assert 0.85 < width * height / (1024 * 1024) < 1.2


def test_tiny_bucket_still_keeps_landscape_and_portrait_apart():
    assert sdxl_bucket(4000, 3000, target_pixels=192 * 128) == (192, 128)
    assert sdxl_bucket(3000, 4000, target_pixels=192 * 128) == (128, 192)


def test_final_image_returns_to_the_original_framing():
    photo = Image.new("RGB", (1000, 750))
    work, framing = normalise(photo, target_pixels=1024 * 1024)
    assert work.size == framing.work_size
    upscaled = work.resize((work.width * 2, work.height * 2))
    final = to_original_framing(upscaled, framing)
    assert final.height == upscaled.height
    assert abs(final.width / final.height - 1000 / 750) < 0.002


# ---- desk check --------------------------------------------------------------------------


def _det(label: str, score: float = 0.9, box=(10, 10, 40, 40)) -> Detection:
    return Detection(label=label, score=score, box=box)


def test_desk_rule():
    assert is_desk([_det("desk")], min_objects=2)
    assert is_desk([_det("monitor"), _det("keyboard")], min_objects=2)
    assert not is_desk([_det("mug")], min_objects=2)
    assert not is_desk([_det("chair"), _det("sofa"), _det("tree")], min_objects=2)
    with pytest.raises(NotADesk, match="doesn't look like a desk"):
        check_desk([_det("mug")], min_objects=2)


# ---- detect / segment ----------------------------------------------------------------------


def test_detect_assigns_labels_from_the_query_and_boxes_inside_the_image(models, desk_image):
    labels = DESK_LABELS + DESK_ITEMS
    found = detect(models.get("detector"), desk_image, labels, box_threshold=0.0, max_detections=7)
    assert 0 < len(found) <= 7
    assert all(d.label in labels for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    for d in found:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 <= x1 <= desk_image.width
        assert 0 <= y0 <= y1 <= desk_image.height
    assert detect(models.get("detector"), desk_image, labels, box_threshold=1.01, max_detections=7) == []


def test_segment_gives_one_mask_per_box_inside_its_box(models, desk_image):
    boxes = [_det("monitor", box=(50, 10, 140, 60)), _det("keyboard", box=(40, 80, 120, 100))]
    masks = segment(models.get("segmenter"), desk_image, boxes)
    assert len(masks) == 2
    assert any(mask.any() for mask in masks), "at least one box gets a non-empty mask"
    for mask, detection in zip(masks, boxes, strict=True):
        assert mask.shape == (desk_image.height, desk_image.width)
        assert mask.dtype == bool
        ys, xs = np.nonzero(mask)
        if len(xs):  # an empty mask is inside its box too
            x0, y0, x1, y1 = detection.box
            assert xs.min() >= x0 - 5
            assert xs.max() <= x1 + 5
            assert ys.min() >= y0 - 3
            assert ys.max() <= y1 + 3
    assert segment(models.get("segmenter"), desk_image, []) == []


# ---- mask ----------------------------------------------------------------------------------


def _box_mask(shape, box) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def test_mask_keeps_the_items_pixels_unchanged():
    original = Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 192, 3), dtype=np.uint8))
    item = _box_mask((128, 192), (60, 20, 120, 70))
    mask = build_mask((192, 128), item_masks=[item], desk_masks=[])
    assert not (mask.repaint & item).any()
    painted = Image.new("RGB", (192, 128), (255, 0, 255))
    out = np.asarray(composite(original, painted, mask))
    assert np.array_equal(out[item], np.asarray(original)[item])
    assert (out[mask.repaint] != np.asarray(original)[mask.repaint]).any()


def test_mask_fills_holes_and_feathers_the_edge():
    items = [_box_mask((128, 192), (60, 20, 120, 70))]
    desk = _box_mask((128, 192), (0, 40, 192, 128))
    desk[100, 100] = False  # a one-pixel hole in the desk mask
    mask = build_mask((192, 128), item_masks=items, desk_masks=[desk])
    assert mask.repaint[100, 100]
    alpha = np.asarray(mask.feathered)
    assert ((alpha > 0) & (alpha < 255)).any(), "the edge is soft"
    assert alpha[mask.protected].max() == 0


def test_mask_guards_against_empty_and_full_masks():
    everything = np.ones((128, 192), dtype=bool)
    with pytest.raises(NoFreeSpace):
        build_mask((192, 128), item_masks=[everything], desk_masks=[])
    nothing_detected = build_mask((192, 128), item_masks=[], desk_masks=[])
    assert nothing_detected.coverage <= 0.66, "never repaint the whole photo"
    assert not nothing_detected.repaint[: int(128 * 0.3)].any(), "only the lower band, where a desk is"


# ---- inpaint and LoRAs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def style_loras(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("styles")
    source = models.source("inpaint")
    paths = [build_style_lora(source, folder / f"style{i}.safetensors", seed=i) for i in (1, 2)]
    storage = runtime().storage
    refs = []
    for path in paths:
        key = f"styles/test/{path.name}"
        storage.write(key, path.read_bytes(), "application/octet-stream")
        refs.append(LoraSpec(key=key, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), weight=1.0))
    return refs


def _paint(pipeline, steps_seen=None, seed=3) -> np.ndarray:
    image = Image.new("RGB", (64, 64), (120, 90, 60))
    mask = Image.new("L", (64, 64), 255)
    on_step = (lambda step, total: steps_seen.append((step, total))) if steps_seen is not None else None
    out = inpaint(
        pipeline,
        image=image,
        mask=mask,
        prompt="a desk lamp",
        negative_prompt="blurry",
        steps=3,
        guidance=5.0,
        strength=1.0,
        seed=seed,
        on_step=on_step,
    )
    assert out.size == (64, 64)
    return np.asarray(out)


def test_inpaint_reports_every_step_and_is_reproducible_by_seed(models):
    pipeline = models.get("inpaint")
    runtime().loras(pipeline).activate(None)
    steps: list[tuple[int, int]] = []
    first = _paint(pipeline, steps)
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert np.array_equal(first, _paint(pipeline))
    assert not np.array_equal(first, _paint(pipeline, seed=4)), "a new seed is a new variation"


def test_lora_switching_changes_the_output_and_switching_back_restores_it(models, style_loras):
    pipeline = models.get("inpaint")
    loras = runtime().loras(pipeline)
    before = set(loras.loaded)  # the worker is shared: other tests' adapters (a LoRA check's) may be there
    loras.activate(None)
    plain = _paint(pipeline)
    loras.activate(style_loras[0])
    first_style = _paint(pipeline)
    loras.activate(style_loras[1])
    second_style = _paint(pipeline)
    loras.activate(style_loras[0])
    first_again = _paint(pipeline)
    loras.activate(None)
    plain_again = _paint(pipeline)
    assert not np.array_equal(plain, first_style)
    assert not np.array_equal(first_style, second_style)
    assert np.array_equal(first_style, first_again)
    assert np.array_equal(plain, plain_again)
    assert len(set(loras.loaded) - before) == 2, "each LoRA is loaded once, then only switched"


def test_lora_with_a_wrong_hash_or_a_pickle_is_refused(models, style_loras):
    loras = runtime().loras(models.get("inpaint"))
    tampered = LoraSpec(key=style_loras[0].key, sha256="0" * 64, weight=1.0)
    with pytest.raises(LoraUnavailable, match="does not match"):
        loras.activate(tampered)
    with pytest.raises(ContractError, match="safetensors"):
        LoraSpec(key="styles/evil.pt", sha256="0" * 64)


# ---- locate and upscale ----------------------------------------------------------------------


def test_locate_returns_hotspots_inside_the_image_or_none(models, desk_image):
    repaint = np.ones((desk_image.height, desk_image.width), dtype=bool)
    found = locate(models.get("detector"), desk_image, ["desk lamp", "plant"], repaint, threshold=0.0)
    assert set(found) == {"desk lamp", "plant"}
    for hotspot in found.values():
        assert hotspot is not None
        assert 0 <= hotspot["x"] <= 1
        assert 0 <= hotspot["y"] <= 1
        assert all(0 <= v <= 1 for v in hotspot["box"])
    none = locate(models.get("detector"), desk_image, ["desk lamp"], repaint, threshold=1.01)
    assert none == {"desk lamp": None}


def test_upscale_doubles_and_tiles_without_changing_the_picture(models, desk_image):
    model = models.get("upscaler")
    whole = upscale(model, desk_image, factor=2, tile=1024)
    tiled = upscale(model, desk_image, factor=2, tile=48)
    assert whole.size == tiled.size == (384, 256)
    difference = np.abs(np.asarray(whole, dtype=int) - np.asarray(tiled, dtype=int))
    assert difference.mean() < 1.0, "tiles overlap enough that seams do not show"
    assert upscale(model, desk_image, factor=4, tile=64).size == (768, 512)
    odd = upscale(model, desk_image.resize((101, 67)), factor=2, tile=32)
    assert odd.size == (202, 134)


def test_style_lora_file_is_safetensors_with_lora_keys_only(style_loras):
    from safetensors import safe_open

    path = Path(runtime().config.model_dir) / "test-lora-check.safetensors"
    path.write_bytes(runtime().storage.read(style_loras[0].key))
    with safe_open(str(path), "pt") as handle:
        keys = list(handle.keys())
    path.unlink()
    assert keys
    assert all(".lora_A." in k or ".lora_B." in k for k in keys)


def test_few_step_mode_keeps_the_fast_lora_on_under_every_style(models, style_loras, tmp_path):
    from gpu_worker.loras import FAST_ADAPTER, LoraManager

    pipeline = models.get("inpaint")
    runtime().loras(pipeline).activate(None)
    plain = _paint(pipeline)
    fast_file = build_style_lora(models.source("inpaint"), tmp_path / "fast.safetensors", seed=9)
    manager = LoraManager(pipeline, runtime().storage, tmp_path / "cache", fast_lora=fast_file)
    try:
        manager.activate(None)
        assert pipeline.get_active_adapters() == [FAST_ADAPTER]
        fast_only = _paint(pipeline)
        manager.activate(style_loras[0])
        assert set(pipeline.get_active_adapters()) == {FAST_ADAPTER, adapter_name(style_loras[0])}
        fast_and_style = _paint(pipeline)
    finally:
        pipeline.delete_adapters([FAST_ADAPTER])
        runtime().loras(pipeline).activate(None)
    assert not np.array_equal(plain, fast_only)
    assert not np.array_equal(fast_only, fast_and_style)
    assert np.array_equal(plain, _paint(pipeline)), "removing the fast LoRA restores the base model"


def test_adapters_are_bounded_and_the_least_recently_used_goes_first(models, style_loras, tmp_path):
    from gpu_worker.loras import LoraManager

    pipeline = models.get("inpaint")
    runtime().loras(pipeline).activate(None)
    pipeline.delete_adapters(sorted(runtime().loras(pipeline).loaded))  # start from a clean pipeline
    storage = runtime().storage
    third_file = build_style_lora(models.source("inpaint"), tmp_path / "style3.safetensors", seed=3)
    storage.write("styles/test/style3.safetensors", third_file.read_bytes(), "application/octet-stream")
    third = LoraSpec(key="styles/test/style3.safetensors", sha256=hashlib.sha256(third_file.read_bytes()).hexdigest())
    first, second = style_loras
    manager = LoraManager(pipeline, storage, tmp_path / "cache", max_adapters=2)
    try:
        manager.activate(second)
        second_picture = _paint(pipeline)
        manager.activate(first)
        manager.activate(third)  # the second was used least recently: it goes
        assert manager.loaded == {adapter_name(first), adapter_name(third)}
        manager.activate(first)
        manager.activate(second)  # now the third goes
        assert manager.loaded == {adapter_name(first), adapter_name(second)}
        assert np.array_equal(_paint(pipeline), second_picture), "a reloaded LoRA paints as before"
    finally:
        manager.activate(None)
        pipeline.delete_adapters(sorted(manager.loaded))


def test_txt2img_paints_the_bucket_reports_steps_and_follows_the_seed_and_the_lora(style_loras):
    from gpu_worker.stages.txt2img import txt2img

    registry = runtime().models
    pipeline = registry.get("txt2img")
    loras = runtime().loras(pipeline)
    steps: list[tuple[int, int]] = []

    def paint(seed=5, on_step=None):
        image = txt2img(
            pipeline,
            prompt="a walk in the park",
            negative_prompt="blurry",
            width=64,
            height=48,
            steps=3,
            guidance=5.0,
            seed=seed,
            on_step=on_step,
        )
        assert image.size == (64, 48)
        return np.asarray(image)

    loras.activate(None)
    plain = paint(on_step=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert np.array_equal(plain, paint())
    assert not np.array_equal(plain, paint(seed=6))
    loras.activate(style_loras[0])  # a style LoRA made for the inpaint UNet fits the txt2img UNet too
    styled = paint()
    loras.activate(None)
    assert not np.array_equal(plain, styled)
    assert np.array_equal(plain, paint())
