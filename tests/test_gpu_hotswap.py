"""A compiled UNet with LoRA hotswap (tiny preset, CPU): style switches never recompile, paint exactly
what the eager pipeline paints, and a styled job runs end to end after the worker's warm-up.

torch.compile runs with the "eager" backend here: dynamo traces and guards exactly as it does for
inductor (what decides whether a switch recompiles), without generating kernels, which on this CPU
would take minutes per graph. Graphs are counted with dynamo's own counter of the graphs it
compiled (`counters["stats"]["unique_graphs"]`), as a difference around each step.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch._dynamo.utils import counters

from gpu_worker.config import CompileSettings, WorkerConfig, WorkerConfigError
from gpu_worker.contract import JobSpec, JobStatus, LoraSpec, StyleSpec, encode
from gpu_worker.contract.desk_makeover import PHOTO_INPUT, DeskParams
from gpu_worker.jobs import execute
from gpu_worker.loras import HOTSWAP_SLOTS, LoraManager, LoraUnavailable
from gpu_worker.metrics import models_warm_up
from gpu_worker.progress import ProgressReporter
from gpu_worker.registry import ModelRegistry
from gpu_worker.runtime import Runtime
from gpu_worker.stages.diffusion import QkvFusionRefused, fuse_qkv_projections, is_compiled
from gpu_worker.stages.inpaint import inpaint
from gpu_worker.storage import LocalStorage
from gpu_worker.tiny_models import build_style_lora
from gpu_worker.workflow import model_roles, served_workflows
from tests.photos import make_desk_photo

MAX_RANK = 8  # the tiny styles have rank 4: the slots pad them


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


def _runtime(media: Path, *, compiled: bool) -> Runtime:
    """A desk-makeover worker's runtime; compiled ones load their SDXL pipelines here, while the
    environment says how to compile (what registry._prepare hands to prepare_pipeline)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ONTOP_GPU_COMPILE_UNET", "true" if compiled else "false")
        env.setenv("ONTOP_GPU_COMPILE_BACKEND", "eager")
        env.setenv("ONTOP_GPU_LORA_MAX_RANK", str(MAX_RANK))
        config = replace(WorkerConfig.from_env(), media_root=media, workflows=("desk_makeover",))
        runtime = Runtime(config=config, storage=LocalStorage(media), models=ModelRegistry(config))
        if compiled:
            runtime.models.get("inpaint")
            runtime.models.get("txt2img")  # for personal models (not a desk-makeover role)
    return runtime


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def compiled(media) -> Runtime:
    return _runtime(media, compiled=True)


@pytest.fixture(scope="module")
def eager(media) -> Runtime:
    return _runtime(media, compiled=False)


def _store(runtime: Runtime, path: Path, weight: float = 1.0) -> LoraSpec:
    data = path.read_bytes()
    key = f"styles/hotswap/{path.name}"
    runtime.storage.write(key, data, "application/octet-stream")
    return LoraSpec(key=key, sha256=hashlib.sha256(data).hexdigest(), weight=weight)


@pytest.fixture(scope="module")
def styles(compiled, tmp_path_factory) -> tuple[LoraSpec, LoraSpec]:
    folder = tmp_path_factory.mktemp("styles")
    source = compiled.models.source("inpaint")
    first, second = (build_style_lora(source, folder / f"style{i}.safetensors", seed=i) for i in (1, 2))
    return _store(compiled, first, weight=0.8), _store(compiled, second)


def _paint(pipeline) -> np.ndarray:
    out = inpaint(
        pipeline,
        image=Image.new("RGB", (64, 64), (120, 90, 60)),
        mask=Image.new("L", (64, 64), 255),
        prompt="a desk lamp",
        negative_prompt="blurry",
        steps=2,
        guidance=5.0,
        strength=1.0,
        seed=3,
    )
    return np.asarray(out)


def test_the_compiled_unet_has_the_slots_and_keeps_its_class(compiled):
    unet = compiled.models.get("inpaint").unet
    assert type(unet).__name__ == "UNet2DConditionModel", "compiled in place: diffusers' LoRA methods still see it"
    assert is_compiled(unet)
    assert set(HOTSWAP_SLOTS) <= set(unet.peft_config)
    assert compiled.loras(compiled.models.get("inpaint")).hotswap is True
    assert torch._dynamo.config.recompile_limit == 64, "not torch's 8: buckets and batch sizes add graphs"


def test_switching_styles_never_recompiles_and_paints_exactly_as_eager(compiled, eager, styles):
    first, second = styles
    pipeline, reference = compiled.models.get("inpaint"), eager.models.get("inpaint")
    swapped, loaded = compiled.loras(pipeline), eager.loras(reference)
    assert loaded.hotswap is False
    # A→B→A, a new weight for A, and no style, each against the eager pipeline (adapters + set_adapters).
    jobs = [None, first, second, first, replace(first, weight=0.5), None]
    pictures, eager_pictures, new_graphs = [], [], []
    for spec in jobs:
        loaded.activate(spec)
        eager_pictures.append(_paint(reference))
        before = graphs()
        swapped.activate(spec)
        pictures.append(_paint(pipeline))
        new_graphs.append(graphs() - before)
    # The first paint may compile (unless an earlier test did); no switch after it ever does.
    assert new_graphs[1:] == [0, 0, 0, 0, 0]
    assert new_graphs[0] in (0, 1)
    for index, (picture, eager_picture) in enumerate(zip(pictures, eager_pictures, strict=True)):
        # Exact: the slots add exact zeros (empty, or padded ranks) and "eager" compiles no kernels.
        assert np.array_equal(picture, eager_picture), f"job {index} ({jobs[index]}) differs from eager"
    assert not np.array_equal(pictures[0], pictures[1]), "the style changes the picture"
    assert not np.array_equal(pictures[1], pictures[2]), "so does the other style"
    assert not np.array_equal(pictures[3], pictures[4]), "and the weight"
    assert np.array_equal(pictures[1], pictures[3]), "switching back restores the first style"
    assert np.array_equal(pictures[0], pictures[5]), "an emptied slot restores the base model"
    assert swapped.loaded == {f"style_{first.sha256[:16]}", f"style_{second.sha256[:16]}"}
    assert set(pipeline.get_list_adapters()["unet"]) == set(HOTSWAP_SLOTS), "nothing was added to the UNet"


def _lora_for(unet_dir: Path, target: Path, *, targets: list[str], rank: int) -> Path:
    """A random LoRA for the tiny UNet on the given layers (build_style_lora's recipe, other layers/rank)."""
    from diffusers import StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(unet_dir / "unet", local_files_only=True)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets))
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    StableDiffusionXLInpaintPipeline.save_lora_weights(
        target.parent, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=target.name
    )
    return target


def test_a_lora_the_slots_cannot_hold_is_refused_and_the_slots_survive(compiled, styles, tmp_path):
    pipeline = compiled.models.get("inpaint")
    swapped = compiled.loras(pipeline)
    source = compiled.models.source("inpaint")
    swapped.activate(styles[1])
    expected = _paint(pipeline)
    too_big = _store(compiled, _lora_for(source, tmp_path / "rank16.safetensors", targets=["to_q"], rank=16))
    with pytest.raises(LoraUnavailable) as refused:
        swapped.activate(too_big)
    assert str(refused.value) == (
        "This LoRA has rank 16; the compiled UNet's slots hold up to 8 (ONTOP_GPU_LORA_MAX_RANK)."
    )
    convs = _store(compiled, _lora_for(source, tmp_path / "convs.safetensors", targets=["conv1"], rank=4))
    with pytest.raises(LoraUnavailable) as refused:
        swapped.activate(convs)
    assert str(refused.value).startswith("This LoRA has layers the compiled UNet's slot_style does not cover: ")
    assert "resnets.0.conv1" in str(refused.value)
    before = graphs()
    swapped.activate(styles[1])
    assert np.array_equal(_paint(pipeline), expected), "the slot still holds the style it held"
    assert graphs() == before
    assert set(pipeline.get_list_adapters()["unet"]) == set(HOTSWAP_SLOTS)


def test_the_lora_check_on_a_compiled_worker_asks_the_slots(compiled, styles, tmp_path):
    """A compiled worker never adds the checked adapter to the UNet: the check is whether the style
    slot can hold the file, answered with the slot's reason, and nothing is compiled for it."""
    from gpu_worker.contract.lora_check import CONTRACT, LoraCheckParams

    checker = replace(compiled, config=replace(compiled.config, workflows=("lora_check", "desk_makeover")))
    convs = _store(
        compiled, _lora_for(compiled.models.source("inpaint"), tmp_path / "c.safetensors", targets=["conv1"], rank=4)
    )
    answers = []
    for name, lora in (("fits", styles[0]), ("convs", convs)):
        spec = JobSpec(
            job_id=f"check-{name}",
            kind="lora_check",
            output_prefix=f"results/check-{name}/",
            params=encode(LoraCheckParams(lora=lora)),
        )
        before = graphs()
        envelope = execute(spec, ProgressReporter(), checker)
        assert envelope.status is JobStatus.SUCCEEDED, envelope.error
        assert graphs() == before
        answers.append(CONTRACT.decode_result(envelope.data))
    fits, misfit = answers
    assert (fits.fits, fits.reason, fits.pipelines) == (True, "", ["inpaint", "txt2img"])
    assert (misfit.fits, misfit.pipelines) == (False, [])
    assert misfit.reason.startswith(
        "The inpaint pipeline cannot load it: This LoRA has layers the compiled UNet's slot_style does not cover: "
    )
    assert set(compiled.models.get("inpaint").get_list_adapters()["unet"]) == set(HOTSWAP_SLOTS)


def test_fused_qkv_is_refused_while_a_lora_is_on_and_no_lora_loads_onto_fused_qkv(eager, styles, tmp_path):
    from diffusers import StableDiffusionXLInpaintPipeline

    source = eager.models.source("inpaint")
    with_lora = StableDiffusionXLInpaintPipeline.from_pretrained(source, local_files_only=True)
    LoraManager(with_lora, eager.storage, tmp_path / "cache").activate(styles[0])
    with pytest.raises(QkvFusionRefused) as refused:
        fuse_qkv_projections(with_lora)
    assert str(refused.value) == (
        f"Fused QKV would silently drop the LoRA adapters on this pipeline: ['style_{styles[0].sha256[:16]}']."
    )
    fused = StableDiffusionXLInpaintPipeline.from_pretrained(source, local_files_only=True)
    fuse_qkv_projections(fused)
    with pytest.raises(LoraUnavailable) as refused:
        LoraManager(fused, eager.storage, tmp_path / "cache").activate(styles[0])
    assert str(refused.value) == "The UNet's QKV projections are fused, which would silently drop every LoRA."
    assert fused.get_list_adapters() == {}


def test_a_styled_makeover_runs_on_the_compiled_worker_and_compiles_nothing_after_warm_up(compiled, styles):
    from gpu_worker.contract.desk_makeover import CONTRACT

    before_warm_up = graphs()
    # What gpu_worker.__main__ calls at start (timing each load, then the registry's warm-up).
    models_warm_up(compiled.models, model_roles(served_workflows(("desk_makeover",))))
    key = "uploads/hotswap/desk.jpg"
    compiled.storage.write(key, make_desk_photo((320, 240)), "image/jpeg")  # 4:3, as the warm-up's first shape
    after_warm_up = graphs()
    assert after_warm_up > before_warm_up, "the warm-up compiled the UNet for the work size"
    for job_id, style in (("styled1", styles[0]), ("styled2", styles[1])):
        spec = JobSpec(
            job_id=job_id,
            kind="desk_makeover",
            output_prefix=f"results/{job_id}/",
            params=encode(DeskParams(seed=5, style=StyleSpec(slug="cozy", lora=style))),
            inputs={PHOTO_INPUT: key},
        )
        envelope = execute(spec, ProgressReporter(), compiled)
        assert envelope.status is JobStatus.SUCCEEDED, envelope.error
        result = CONTRACT.decode_result(envelope.data)
        assert result.style == "cozy"
    assert graphs() == after_warm_up, "the warm-up compiled what the jobs run"


def test_personal_models_share_the_compiled_unet_with_styles_and_paint_as_eager(compiled, eager, styles):
    from gpu_worker.stages.txt2img import txt2img
    from tests.personal_models import personal_model_make

    base_model = compiled.models.identifier("txt2img")
    people = [
        personal_model_make(
            storage=compiled.storage,
            tiny_txt2img=compiled.models.source("txt2img"),
            base_model=base_model,
            key_prefix=f"subjects/hotswap/{name}/",
            colour=colour,
            seed=seed,
        )
        for name, colour, seed in (("mina", (200, 40, 40), 1), ("jun", (40, 40, 200), 2))
    ]
    pipeline, reference = compiled.models.get("txt2img"), eager.models.get("txt2img")
    swapped, loaded = compiled.loras(pipeline), eager.loras(reference)

    def paint(on) -> np.ndarray:
        prompt = "a photo of <s0><s1> person"
        image = txt2img(on, prompt=prompt, negative_prompt="", width=64, height=64, steps=2, guidance=5.0, seed=4)
        return np.asarray(image)

    jobs = [(None, people[0]), (styles[1], people[0]), (None, people[1]), (styles[1], None), (None, people[0])]
    pictures, new_graphs = [], []
    for style, person in jobs:
        loaded.activate(style, person, base_model=base_model)
        expected = paint(reference)
        before = graphs()
        swapped.activate(style, person, base_model=base_model)
        pictures.append(paint(pipeline))
        new_graphs.append(graphs() - before)
        assert np.array_equal(pictures[-1], expected), f"{style} with {person and person.lora.key} differs from eager"
    assert new_graphs[1:] == [0, 0, 0, 0]
    assert not np.array_equal(pictures[0], pictures[2]), "two people, two pictures"
    assert np.array_equal(pictures[0], pictures[4]), "switching back to the first person restores them"


def test_the_benchmark_measures_switches_on_random_full_format_styles(compiled):
    from gpu_worker.bench_hotswap import hotswap_measure, random_style_loras

    pipeline = compiled.models.get("inpaint")
    specs = random_style_loras(pipeline, compiled.storage, count=2, rank=4, key_prefix="bench/hotswap-test/")
    figures = hotswap_measure(pipeline, compiled.loras(pipeline), specs, repeats=2, paint=lambda: _paint(pipeline))
    assert (figures.hotswap, figures.switches, figures.graphs_added, figures.painted) == (True, 4, 0, True)
    assert 0 < figures.switch_ms_min <= figures.switch_ms_median <= figures.switch_ms_max


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("COMPILE_MODE", "fast", "ONTOP_GPU_COMPILE_MODE must be one of default, reduce-overhead, max-autotune, "),
        ("COMPILE_BACKEND", "tvm", "ONTOP_GPU_COMPILE_BACKEND must be one of inductor, aot_eager, eager; got 'tvm'."),
        ("LORA_MAX_RANK", "0", "ONTOP_GPU_LORA_MAX_RANK must be at least 1; got 0."),
        ("LORA_MAX_RANK", "512", "ONTOP_GPU_LORA_MAX_RANK must be at most 256; got 512."),
        ("LORA_MAX_RANK", "big", "ONTOP_GPU_LORA_MAX_RANK must be an integer; got 'big'."),
    ],
)
def test_bad_compile_settings_are_refused(monkeypatch, name, value, message):
    monkeypatch.setenv(f"ONTOP_GPU_{name}", value)
    with pytest.raises(WorkerConfigError) as refused:
        CompileSettings.from_env()
    assert str(refused.value).startswith(message)


def test_compile_settings_defaults_and_choices(monkeypatch):
    for name in ("COMPILE_MODE", "COMPILE_BACKEND", "LORA_MAX_RANK"):
        monkeypatch.delenv(f"ONTOP_GPU_{name}", raising=False)
    assert CompileSettings.from_env() == CompileSettings("max-autotune-no-cudagraphs", "inductor", 64)
    monkeypatch.setenv("ONTOP_GPU_COMPILE_MODE", "max-autotune")
    monkeypatch.setenv("ONTOP_GPU_LORA_MAX_RANK", "128")
    assert CompileSettings.from_env() == CompileSettings("max-autotune", "inductor", 128)
