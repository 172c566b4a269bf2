"""Model roles and the one place that turns a role into a loaded model, lazily and once per process.

Each role has a loader spec: its name, what it loads (the real classes), where its weights come
from (ONTOP_GPU_MODEL_<ROLE>: a local path, or a Hugging Face repo id already in the local cache)
and how to build its `tiny` random-weight twin. With the `tiny` preset, the twin is built once per
machine under `<model dir>/tiny/<role>` and loaded back with `from_pretrained`, the same path real
weights take. A worker loads only the roles of the workflows it serves. Nothing here ever reaches
a model hub.
"""

from __future__ import annotations

import os

# Set before diffusers/transformers/huggingface_hub are imported anywhere in this process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import fcntl
import logging
import shutil
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gpu_worker.config import DiffusionSettings, WorkerConfig

logger = logging.getLogger(__name__)


class ModelSourceError(RuntimeError):
    """A configured model cannot be found locally (we never download)."""


@dataclass
class Detector:
    processor: Any
    model: Any


@dataclass(frozen=True)
class ModelRole:
    name: str
    loads: str  # the class it loads, for people and logs
    load: Callable[[ModelRegistry, Path], Any]
    build_tiny: Callable[[Path], None]
    # The full-size architecture with random weights, for benchmarks: (dtype, device) → model.
    build_full: Callable[[torch.dtype, torch.device], Any]

    @property
    def env_var(self) -> str:
        return f"ONTOP_GPU_MODEL_{self.name.upper()}"


@dataclass
class LoadedModel:
    role: str
    source: str
    model: Any


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, setting)


class ModelRegistry:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.RLock()  # a role's loader may need another role (shared components)
        self._pipeline_locks: dict[int, threading.Lock] = {}

    # ---- sources -------------------------------------------------------------------------
    def source(self, role: str) -> Path:
        spec = model_role(role)
        if self.config.model_preset == "tiny":
            return ensure_tiny_model(self.config.model_dir, spec)
        role = self._source_role(role)
        if role not in self.config.model_sources:
            raise ModelSourceError(f"{model_role(role).env_var} is not set (a local path or a cached hub id).")
        return resolve_local_source(self.config.model_sources[role])

    def missing_sources(self, roles: tuple[str, ...]) -> list[str]:
        """The environment variables the `real` preset still needs for these roles."""
        if self.config.model_preset == "tiny":
            return []
        needed = [self._source_role(r) for r in roles]
        return [model_role(r).env_var for r in dict.fromkeys(needed) if r not in self.config.model_sources]

    def _source_role(self, role: str) -> str:
        """The trainer trains on the text-to-image base unless ONTOP_GPU_MODEL_TRAINER names one."""
        if role == "trainer" and "trainer" not in self.config.model_sources:
            return "txt2img"
        return role

    # ---- loading -------------------------------------------------------------------------
    def get(self, role: str) -> Any:
        with self._lock:
            if role not in self._loaded:
                spec = model_role(role)
                source = self.source(role)
                logger.info("loading %s (%s) from %s on %s (%s)", role, spec.loads, source, self.device, self.dtype)
                self._loaded[role] = LoadedModel(role=role, source=str(source), model=spec.load(self, source))
            return self._loaded[role].model

    def provide(self, role: str, model: Any, source: str) -> None:
        """Use an already built model for a role (the benchmark's full-size random-weight models)."""
        model_role(role)
        with self._lock:
            self._loaded[role] = LoadedModel(role=role, source=source, model=model)

    def loaded(self) -> set[str]:
        return set(self._loaded)

    def identifier(self, role: str) -> str:
        """Names the model without loading it (cache keys, result metadata)."""
        # The trainer is a second copy of the text-to-image base: it has that base's identity, which
        # personal models record so that they are only ever used on the base they were trained on.
        if self.config.model_preset == "tiny":
            return f"tiny:{'txt2img' if role == 'trainer' else role}:seed{_tiny_seed()}"
        return f"real:{self.config.model_sources[self._source_role(role)]}"

    def warm_up(self, roles: tuple[str, ...]) -> None:
        """Loads the roles; with a compiled UNet, also paints once per UNet (`_warm_up_paint`), so
        that compiling happens here and not in the first person's job."""
        for role in roles:
            self.get(role)
        if self.config.diffusion.compile_unet:
            warmed: set[int] = set()
            for role in roles:
                if role in _WARM_UP_ROLES and id(self.get(role).unet) not in warmed:
                    warmed.add(id(self.get(role).unet))
                    _warm_up_paint(self, role)

    def identifiers(self, roles: tuple[str, ...] | None = None) -> dict[str, str]:
        """What produced a result: recorded in every JobResult."""
        return {role: self.identifier(role) for role in (roles if roles is not None else self._loaded)}

    def pipeline_lock(self, pipeline) -> threading.Lock:
        """One lock per UNet: pipelines that share one (from_pipe) never run two jobs on it at once."""
        key = id(getattr(pipeline, "unet", pipeline))
        with self._lock:
            return self._pipeline_locks.setdefault(key, threading.Lock())


def _tiny_seed() -> int:
    from gpu_worker.tiny_models import TINY_SEED

    return TINY_SEED


def resolve_local_source(value: str) -> Path:
    path = Path(value).expanduser()
    if path.exists():
        return path.resolve()
    if value.count("/") == 1 and not value.startswith((".", "/")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(value, local_files_only=True))
        except LocalEntryNotFoundError:
            raise ModelSourceError(
                f"{value!r} is not in the local Hugging Face cache; download it on a machine with access "
                "and copy the cache (HF_HOME), or point to a local directory."
            ) from None
    raise ModelSourceError(f"model source {value!r} is neither a local path nor a cached hub id")


def ensure_tiny_model(model_dir: Path, spec: ModelRole) -> Path:
    """Build the tiny model once; concurrent workers wait on a file lock instead of racing."""
    target = model_dir / "tiny" / spec.name
    marker = target / ".complete"
    if marker.exists():
        return target
    model_dir.joinpath("tiny").mkdir(parents=True, exist_ok=True)
    with open(model_dir / "tiny" / f".{spec.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return target
        building = target.with_name(f".{spec.name}.building")
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        logger.info("building tiny %s model in %s", spec.name, target)
        spec.build_tiny(building)
        building.joinpath(".complete").touch()
        building.rename(target)
    return target


# ---- loaders -------------------------------------------------------------------------------


def _replacement_vae(registry: ModelRegistry):
    """ONTOP_GPU_MODEL_VAE, e.g. an fp16-safe SDXL VAE: the stock one overflows in fp16."""
    value = registry.config.model_sources.get("vae")
    if not value:
        return {}
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(
        resolve_local_source(value), dtype=registry.dtype, use_safetensors=True, local_files_only=True
    )
    return {"vae": vae}


def _prepare(registry: ModelRegistry, pipeline):
    from gpu_worker.stages.diffusion import prepare_pipeline

    pipeline.set_progress_bar_config(disable=True)
    settings = registry.config.diffusion
    pipeline = pipeline.to(registry.device)
    # Before compile: fusing the fast LoRA changes the weights the compiled UNet is traced with.
    fast_paths_apply(pipeline, settings, device=registry.device, dtype=registry.dtype)
    return prepare_pipeline(
        pipeline,
        compile_unet=settings.compile_unet,
        channels_last=settings.channels_last,
        compile_settings=settings.compile,
        fast_lora=settings.fast_lora or "",
    )


def _same_weights(registry: ModelRegistry, source: Path, roles: tuple[str, ...]):
    """An SDXL pipeline already loaded from these weights, whose components a new one can share."""
    for role in roles:
        loaded = registry._loaded.get(role)
        if loaded is not None and Path(loaded.source) == source:
            return loaded.model
    return None


def _load_sdxl(registry: ModelRegistry, source: Path, pipeline_class, *, role: str, other: str):
    """An SDXL pipeline. When another SDXL role was loaded from the same weights (SDXL base serves
    both text-to-image and inpainting), the new pipeline shares every component with it
    (`from_pipe`), whichever was loaded first: no second copy in memory."""
    shared = _same_weights(registry, source, (other,))
    if shared is not None:
        logger.info("%s shares the %s pipeline's components", role, other)
        # dtype: without it from_pipe casts the shared components to float32, in place (the other
        # pipeline too).
        pipeline = pipeline_class.from_pipe(shared, dtype=shared.dtype)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline
    pipeline = pipeline_class.from_pretrained(
        source, dtype=registry.dtype, use_safetensors=True, local_files_only=True, **_replacement_vae(registry)
    )
    return _prepare(registry, pipeline)


def _load_inpaint(registry: ModelRegistry, source: Path):
    from diffusers import StableDiffusionXLInpaintPipeline

    return _load_sdxl(registry, source, StableDiffusionXLInpaintPipeline, role="inpaint", other="txt2img")


def _load_txt2img(registry: ModelRegistry, source: Path):
    from diffusers import StableDiffusionXLPipeline

    pipeline = _load_sdxl(registry, source, StableDiffusionXLPipeline, role="txt2img", other="inpaint")
    channels = pipeline.unet.config.in_channels
    if channels != 4:
        raise ModelSourceError(
            f"ONTOP_GPU_MODEL_TXT2IMG ({source}) is an inpainting checkpoint ({channels}-channel UNet); "
            "text-to-image needs SDXL base weights."
        )
    return pipeline


def _load_trainer(registry: ModelRegistry, source: Path):
    """Its own copy of the SDXL base, never shared with txt2img (`from_pipe`): training adds an
    adapter and token embeddings to it, which must never leak into other people's pictures. The
    training worker runs in its own process (queue gpu-train), so generation never waits for it."""
    from diffusers import StableDiffusionXLPipeline

    # Training autocasts to bf16 (ONTOP_GPU_TRAIN_MIXED_PRECISION): frozen weights already in bf16
    # are used as they are, where fp16 ones would be re-cast at every op (and lose range).
    dtype = torch.bfloat16 if registry.dtype == torch.float16 else registry.dtype
    pipeline = StableDiffusionXLPipeline.from_pretrained(
        source, dtype=dtype, use_safetensors=True, local_files_only=True, **_replacement_vae(registry)
    )
    pipeline.set_progress_bar_config(disable=True)
    if pipeline.unet.config.in_channels != 4:
        raise ModelSourceError(f"the trainer's base ({source}) is an inpainting checkpoint; training needs SDXL base.")
    return pipeline.to(registry.device)


def _load_detector(registry: ModelRegistry, source: Path) -> Detector:
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    from gpu_worker.runtime import perception_dtype

    processor = AutoProcessor.from_pretrained(source, local_files_only=True)
    model = GroundingDinoForObjectDetection.from_pretrained(source, local_files_only=True, use_safetensors=True)
    # ONTOP_GPU_PERCEPTION_DTYPE; the stage casts its inputs to the model's dtype (stages/detect.py).
    dtype = perception_dtype(registry.config.perception_dtype, registry.device)
    return Detector(processor=processor, model=model.to(device=registry.device, dtype=dtype).eval())


def _load_segmenter(registry: ModelRegistry, source: Path):
    from transformers import Sam2Model

    from gpu_worker.runtime import perception_dtype

    model = Sam2Model.from_pretrained(source, local_files_only=True, use_safetensors=True)
    dtype = perception_dtype(registry.config.perception_dtype, registry.device)
    return model.to(device=registry.device, dtype=dtype).eval()


def _load_upscaler(registry: ModelRegistry, source: Path):
    from gpu_worker.rrdbnet import RRDBNet

    path = source / "model.safetensors" if source.is_dir() else source
    # In the worker's dtype (half precision on CUDA): stages/upscale.py runs it in the model's dtype.
    return RRDBNet.from_file(path).to(device=registry.device, dtype=registry.dtype)


def _load_pose_control(registry: ModelRegistry, source: Path):
    from gpu_worker.controlnet_models import load_pose_control

    return load_pose_control(registry, source)


def _load_pose_estimator(registry: ModelRegistry, source: Path):
    from gpu_worker.pose_models import load_pose_estimator

    return load_pose_estimator(registry, source)


def _tiny_from(module: str, name: str) -> Callable[[Path], None]:
    def build(target: Path) -> None:
        import importlib

        getattr(importlib.import_module(module), name)(target)

    return build


def _full_from(module: str, name: str) -> Callable[[torch.dtype, torch.device], Any]:
    def build(dtype: torch.dtype, device: torch.device) -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(dtype, device)

    return build


def _tiny(name: str) -> Callable[[Path], None]:
    def build(target: Path) -> None:
        from gpu_worker import tiny_models

        getattr(tiny_models, f"build_{name}")(target)

    return build


def _full(name: str) -> Callable[[torch.dtype, torch.device], Any]:
    def build(dtype: torch.dtype, device: torch.device) -> Any:
        from gpu_worker import full_configs

        return getattr(full_configs, name)(dtype, device)

    return build


MODEL_ROLES: dict[str, ModelRole] = {
    role.name: role
    for role in (
        ModelRole(
            "inpaint", "StableDiffusionXLInpaintPipeline", _load_inpaint, _tiny("inpaint"), _full("build_sdxl_inpaint")
        ),
        ModelRole("txt2img", "StableDiffusionXLPipeline", _load_txt2img, _tiny("txt2img"), _full("build_sdxl_txt2img")),
        ModelRole("trainer", "StableDiffusionXLPipeline", _load_trainer, _tiny("txt2img"), _full("build_sdxl_txt2img")),
        ModelRole(
            "detector",
            "GroundingDinoForObjectDetection",
            _load_detector,
            _tiny("detector"),
            _full("build_grounding_dino"),
        ),
        ModelRole("segmenter", "Sam2Model", _load_segmenter, _tiny("segmenter"), _full("build_sam2_large")),
        ModelRole("upscaler", "RRDBNet (Real-ESRGAN)", _load_upscaler, _tiny("upscaler"), _full("build_realesrgan_x2")),
        # The pose ControlNet for portraits (ControlNetModel, or ControlNetUnionModel when its config says so).
        ModelRole(
            "pose_control",
            "ControlNetModel / ControlNetUnionModel (OpenPose)",
            _load_pose_control,
            _tiny_from("gpu_worker.controlnet_models", "build_tiny_pose_control"),
            _full_from("gpu_worker.controlnet_models", "build_full_pose_control"),
        ),
        # Body keypoints for the admin's pose extraction (ViTPose through transformers).
        ModelRole(
            "pose_estimator",
            "VitPoseForPoseEstimation",
            _load_pose_estimator,
            _tiny_from("gpu_worker.pose_models", "build_tiny_pose_estimator"),
            _full_from("gpu_worker.pose_models", "build_full_pose_estimator"),
        ),
    )
}


def model_role(name: str) -> ModelRole:
    try:
        return MODEL_ROLES[name]
    except KeyError:
        raise KeyError(f"unknown model role {name!r}") from None


# ---- diffusion fast paths (docs/benchmarks.md) ---------------------------------------------


@dataclass
class DiffusionPaths:
    """The fast paths an SDXL pipeline was loaded with; the stages read them (`diffusion_paths`).

    Kept per UNet, like the pipeline lock: pipelines that share one (from_pipe) share its paths.
    """

    few_step: bool = False  # a distilled fast LoRA is on: strength 1.0, "trailing" timesteps
    fast_lora_fused: bool = False  # ... and fused into the weights (not a loaded adapter)
    cfg_cutoff: float = 1.0  # share of the steps with classifier-free guidance (1.0: all)
    tiny_decoder: Any = None  # an AutoencoderTiny, or None
    vae: Any = None  # the VAE the stages encode and decode with (a bf16 copy); None: the pipeline's


_paths: weakref.WeakKeyDictionary[Any, DiffusionPaths] = weakref.WeakKeyDictionary()


def _unet_of(pipeline) -> Any:
    unet = getattr(pipeline, "unet", pipeline)
    return getattr(unet, "_orig_mod", unet)  # through torch.compile's wrapper


def diffusion_paths(pipeline) -> DiffusionPaths:
    """The pipeline's fast paths; defaults (none) for a pipeline not prepared by the registry."""
    return _paths.get(_unet_of(pipeline)) or DiffusionPaths()


def fast_lora_fused(pipeline) -> bool:
    """True when the fast LoRA is already fused into this pipeline's weights: LoraManager must then
    neither load it as an adapter nor activate it (it would apply twice)."""
    return diffusion_paths(pipeline).fast_lora_fused


def vae_bf16_copy(vae):
    """A bf16 copy of a VAE that diffusers would upcast to fp32 (fp16 weights, `force_upcast`), or None.

    diffusers upcasts the stock SDXL VAE for each encode and decode, and casts it back (six casts
    per inpaint job), because it overflows in fp16. bf16 has fp32's exponent range, so it does not
    overflow, and runs at half-precision speed. A copy (84 M parameters, 168 MB), not the
    pipeline's own VAE converted: diffusers takes a pipeline's dtype from its first component, the
    VAE, so a bf16 VAE would make `from_pipe(..., dtype=pipeline.dtype)` cast the whole UNet to
    bf16; and stages that call the pipeline's own decode keep working as loaded.
    """
    if vae.dtype != torch.float16 or not vae.config.force_upcast:
        return None
    import copy

    fast = copy.deepcopy(vae).to(dtype=torch.bfloat16)
    fast.register_to_config(force_upcast=False)
    return fast


def tiny_vae_load(path: str | Path, *, device: torch.device, dtype: torch.dtype):
    """ONTOP_GPU_TINY_VAE: a TAESD-style AutoencoderTiny from a local directory (never downloaded)."""
    from diffusers import AutoencoderTiny

    source = resolve_local_source(str(path))
    return AutoencoderTiny.from_pretrained(source, local_files_only=True, use_safetensors=True).to(
        device=device, dtype=dtype
    )


def fast_lora_fuse(pipeline, path: str | Path) -> None:
    """Fuse the distilled fast LoRA into the base weights, once, before any other adapter exists.

    Loaded as an adapter it adds a LoRA branch to every adapted layer of every forward pass; fused,
    it costs nothing per step. `unload_lora_weights` removes the LoRA layers and keeps the fused
    weights (diffusers' documented recipe), so style LoRAs load on top of the fused model as usual.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelSourceError("ONTOP_GPU_FAST_LORA must be a .safetensors file.")
    if pipeline.get_list_adapters():
        # unload_lora_weights removes every adapter: only safe on a freshly loaded pipeline.
        raise RuntimeError("the fast LoRA is fused before any other adapter is loaded")
    pipeline.load_lora_weights(str(path), adapter_name="fast_fused")
    pipeline.fuse_lora(adapter_names=["fast_fused"], lora_scale=1.0)
    pipeline.unload_lora_weights()


def trailing_timesteps(pipeline) -> None:
    """The scheduler with "trailing" timestep spacing, as Lightning / Hyper-SD LoRAs are distilled for
    (the first step starts at the last training timestep). Named samplers are built from this
    config (stages/schedulers.py), so they keep it."""
    scheduler = pipeline.scheduler
    if scheduler.config.get("timestep_spacing") != "trailing":
        pipeline.scheduler = type(scheduler).from_config(scheduler.config, timestep_spacing="trailing")


def fast_paths_apply(pipeline, settings: DiffusionSettings, *, device: torch.device, dtype: torch.dtype):
    """The configured fast paths on a freshly loaded SDXL pipeline (before compile)."""
    paths = DiffusionPaths(cfg_cutoff=settings.cfg_cutoff if 0 < settings.cfg_cutoff < 1 else 1.0)
    if settings.vae_bf16 and dtype == torch.float16:
        paths.vae = vae_bf16_copy(pipeline.vae)
        if paths.vae is not None:
            logger.info("the VAE runs in bf16 (a copy), not upcast to fp32")
    if settings.tiny_vae:
        paths.tiny_decoder = tiny_vae_load(settings.tiny_vae, device=device, dtype=dtype)
    if settings.fast_lora:
        paths.few_step = True
        trailing_timesteps(pipeline)
        if settings.fast_lora_fuse:
            fast_lora_fuse(pipeline, settings.fast_lora)
            paths.fast_lora_fused = True
            logger.info("fast LoRA %s fused into the weights", settings.fast_lora)
    _paths[_unet_of(pipeline)] = paths
    return pipeline


# ---- warm-up (ModelRegistry.warm_up) ----------------------------------------------------------

# The SDXL roles whose UNet is compiled (the trainer's never is).
_WARM_UP_ROLES = ("inpaint", "txt2img")


def _warm_up_paint(registry: ModelRegistry, role: str) -> None:
    """A few steps through the job's own stage (inpaint or txt2img) at the work size, in landscape
    then portrait: the UNet is compiled for the shapes jobs use (the second shape makes torch compile
    its dynamic-shape graph now, not in a job), with CFG when jobs have it (a batch of 2) and without
    it after a CFG cut-off. The LoRA slots are part of the traced graph already
    (loras.hotswap_slots_prepare), empty or not, so no style is needed here."""
    import time

    from PIL import Image

    from gpu_worker.stages.normalise import sdxl_bucket

    pipeline = registry.get(role)
    settings = registry.config.diffusion
    _, guidance = settings.steps_and_guidance(None, None)
    started = time.perf_counter()
    with registry.pipeline_lock(pipeline):
        for aspect in ((4, 3), (3, 4)):
            width, height = sdxl_bucket(*aspect, target_pixels=settings.work_pixels)
            common = {"prompt": "a desk", "negative_prompt": "", "steps": 3, "guidance": guidance, "seed": 0}
            if role == "inpaint":
                from gpu_worker.stages.inpaint import inpaint

                photo, mask = Image.new("RGB", (width, height)), Image.new("L", (width, height), 255)
                inpaint(pipeline, image=photo, mask=mask, strength=1.0, **common)
            else:
                from gpu_worker.stages.txt2img import txt2img

                txt2img(pipeline, width=width, height=height, **common)
    logger.info("warmed up %s (compiled UNet) in %.1f s", role, time.perf_counter() - started)
