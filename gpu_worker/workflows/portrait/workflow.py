"""A portrait from a personal model: one picture of a profile pack.

People: text-to-image with their personal model (and the chosen pose through ControlNet) → face fix
→ image-to-image "filter" pass → a second face fix (→ hands, when the concept asks) → the warm/cool
grade → ×2 upscale. Pets: the owner's words become the prompt first; no pose and no face fix (the
detector's "face" is a person's).

The whole job holds the pipeline (`models.exclusive`): the person's adapter and token embeddings are
active for every pass and for nobody else's job meanwhile. The tone picks the scheduler for every
pass (contract TONE_SCHEDULERS) and adds its words to the prompt.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import ExitStack

from gpu_worker.config import OpenAISettings
from gpu_worker.contract.portrait import (
    CONTRACT,
    SUBJECT_SLOT,
    TONE_SCHEDULERS,
    TONE_WORDS,
    ConceptSpec,
    PersonalModelSpec,
    PortraitParams,
    PortraitResult,
    PortraitStage,
    PoseSpec,
)
from gpu_worker.stages.derived import derived_pipeline
from gpu_worker.stages.face_detail import detail
from gpu_worker.stages.img2img import img2img
from gpu_worker.stages.normalise import sdxl_bucket
from gpu_worker.stages.pose_control import txt2img_posed
from gpu_worker.stages.pose_render import render_pose
from gpu_worker.stages.schedulers import scheduler_used
from gpu_worker.stages.skin_tone import tone_grade
from gpu_worker.stages.txt2img import txt2img
from gpu_worker.stages.upscale import upscale
from gpu_worker.workflow import WorkflowContext, workflow
from gpu_worker.workflows.portrait.pet_prompt import write_pet_prompt
from gpu_worker.workflows.portrait.settings import PortraitSettings

ASPECT = {"portrait": (4, 5), "square": (1, 1)}
# Where each stage starts on the progress bar; painting and the fixes report per step in between.
PERCENT = {
    PortraitStage.WRITING: 2,
    PortraitStage.PAINTING: 6,
    PortraitStage.DETAILING: 55,
    PortraitStage.FILTERING: 66,
    PortraitStage.GRADING: 86,
    PortraitStage.UPSCALING: 89,
    PortraitStage.SAVING: 97,
}


# ---- the prompt ------------------------------------------------------------------------------


class _PromptCache:
    """A pack's pictures share one instruction: its prompt is written once per worker, so the LLM is
    asked once and every picture of the pack follows the same words (new seeds, same idea)."""

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get_or_write(self, key: tuple, write):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        written = write()
        with self._lock:
            self._items[key] = written
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return written


_PET_PROMPTS = _PromptCache()


def _joined(*parts: str) -> str:
    return ", ".join(p.strip() for p in parts if p and p.strip())


def portrait_prompt(
    openai: OpenAISettings, *, concept: ConceptSpec, model: PersonalModelSpec, tone: str, instruction: str
) -> tuple[str, str, str, str | None]:
    """(prompt, negative prompt, writer, fallback reason). The subject's phrase goes into the
    concept's {subject} slot; a pet's instruction goes through the prompt writer."""
    tone_words = TONE_WORDS[tone]
    if instruction.strip():
        key = (openai, instruction, model.phrase, concept.prompt_template, concept.negative_prompt, tone_words)
        written = _PET_PROMPTS.get_or_write(
            key,
            lambda: write_pet_prompt(
                openai,
                instruction=instruction,
                phrase=model.phrase,
                concept_template=concept.prompt_template,
                concept_negative=concept.negative_prompt,
                tone_words=tone_words,
            ),
        )
        return written.prompt, written.negative_prompt, written.writer, written.fallback_reason
    prompt = _joined(concept.prompt_template.replace(SUBJECT_SLOT, model.phrase), tone_words)
    return prompt, concept.negative_prompt, "template", None


# ---- the workflow ----------------------------------------------------------------------------


class _Progress:
    """Maps each pass's steps onto its share of the bar."""

    def __init__(self, ctx: WorkflowContext) -> None:
        self.ctx = ctx

    def stage(self, stage: PortraitStage, percent: float | None = None) -> None:
        self.ctx.progress.report(stage, PERCENT[stage] if percent is None else percent)

    def steps(self, stage: PortraitStage, start: float, end: float):
        def on_step(step: int, total: int) -> None:
            span = end - start
            self.ctx.progress.report(stage, start + span * step / max(1, total), step=step, total_steps=total)

        return on_step


@workflow(
    CONTRACT,
    models=("txt2img", "pose_control", "detector", "segmenter", "upscaler"),
    settings=PortraitSettings.from_env,
)
def run(ctx: WorkflowContext, params: PortraitParams) -> PortraitResult:
    settings: PortraitSettings = ctx.settings
    concept = params.concept
    progress = _Progress(ctx)
    person = params.subject_kind == "person"

    progress.stage(PortraitStage.WRITING)
    with ctx.timed("write_prompt"):
        prompt, negative, writer, fallback_reason = portrait_prompt(
            ctx.openai, concept=concept, model=params.model, tone=params.tone, instruction=params.instruction
        )

    steps, guidance = ctx.diffusion.steps_and_guidance(concept.steps, concept.guidance)
    steps = min(steps, settings.max_steps)
    scheduler = TONE_SCHEDULERS.get(params.tone, concept.scheduler)
    width, height = sdxl_bucket(*ASPECT[params.orientation], target_pixels=ctx.diffusion.work_pixels)
    detail_settings = settings.detail
    detail_steps = min(detail_settings.steps, settings.max_steps)
    stages: list[str] = []
    faces_fixed = 0
    pipeline = ctx.models.get("txt2img")

    with ctx.models.exclusive(pipeline), ExitStack() as schedulers:
        ctx.adapters.activate(pipeline, concept.style_lora, params.model)
        # Every pass of this job runs the tone's scheduler (each derived pipeline holds its own).
        for used in _pipelines_for(pipeline, ctx, pose=params.pose):
            schedulers.enter_context(scheduler_used(used, scheduler))

        progress.stage(PortraitStage.PAINTING)
        on_paint = progress.steps(PortraitStage.PAINTING, PERCENT[PortraitStage.PAINTING], 54)
        with ctx.timed("paint"):
            if person and params.pose is not None:
                image = txt2img_posed(
                    pipeline,
                    ctx.models.get("pose_control"),
                    control_image=_control_image(params.pose, width, height),
                    control_scale=concept.control_scale,
                    prompt=prompt,
                    negative_prompt=negative,
                    width=width,
                    height=height,
                    steps=steps,
                    guidance=guidance,
                    seed=params.seed,
                    on_step=on_paint,
                )
                stages.append("pose")
            else:
                image = txt2img(
                    pipeline,
                    prompt=prompt,
                    negative_prompt=negative,
                    width=width,
                    height=height,
                    steps=steps,
                    guidance=guidance,
                    seed=params.seed,
                    on_step=on_paint,
                )
        stages.append("paint")

        def fix(image, *, target: str, start: float, end: float, seed_offset: int):
            nonlocal faces_fixed
            progress.stage(PortraitStage.DETAILING, start)
            with ctx.timed(f"detail_{target}"):
                fixed = detail(
                    image,
                    base=pipeline,
                    detector=ctx.models.get("detector"),
                    segmenter=ctx.models.get("segmenter"),
                    prompt=prompt,
                    negative_prompt=negative,
                    seed=params.seed + seed_offset,
                    target=target,
                    settings=_with_steps(detail_settings, detail_steps),
                    on_step=progress.steps(PortraitStage.DETAILING, start, end),
                )
            faces_fixed += fixed.regions if target == "face" else 0
            stages.append(f"detail_{target}")
            return fixed.image

        if person and concept.face_fix:
            image = fix(image, target="face", start=55, end=65, seed_offset=1)
        if concept.filter_strength > 0:
            progress.stage(PortraitStage.FILTERING)
            with ctx.timed("filter"):
                image = img2img(
                    pipeline,
                    image,
                    prompt=prompt,
                    negative_prompt=negative,
                    strength=concept.filter_strength,
                    steps=max(1, min(steps, round(steps * concept.filter_strength) or 1)),
                    guidance=guidance,
                    seed=params.seed + 2,
                    on_step=progress.steps(PortraitStage.FILTERING, PERCENT[PortraitStage.FILTERING], 75),
                )
            stages.append("filter")
        if person and concept.face_fix:
            image = fix(image, target="face", start=75, end=82, seed_offset=3)
        if person and concept.hand_fix:
            image = fix(image, target="hand", start=82, end=85, seed_offset=4)

    if params.tone != "neutral":
        progress.stage(PortraitStage.GRADING)
        with ctx.timed("grade"):
            image = tone_grade(image, params.tone, strength=settings.grade_strength)
        stages.append("grade")

    progress.stage(PortraitStage.UPSCALING)
    with ctx.timed("upscale"):
        image = upscale(
            ctx.models.get("upscaler"), image, factor=ctx.diffusion.upscale, tile=ctx.diffusion.upscale_tile
        )
    stages.append("upscale")

    progress.stage(PortraitStage.SAVING)
    with ctx.timed("save"):
        ctx.write_image("result", image)
    ctx.progress.report(PortraitStage.DONE, 100)
    return PortraitResult(
        seed=params.seed,
        prompt=prompt,
        negative_prompt=negative,
        writer=writer,
        writer_fallback_reason=fallback_reason,
        scheduler=scheduler,
        tone=params.tone,
        steps=steps,
        guidance=guidance,
        stages=stages,
        faces_fixed=faces_fixed,
        width=image.width,
        height=image.height,
    )


def _control_image(pose: PoseSpec, width: int, height: int):
    return render_pose(pose.keypoints, aspect=pose.aspect, width=width, height=height)


def _with_steps(settings, steps: int):
    from dataclasses import replace

    return replace(settings, steps=steps)


def _pipelines_for(pipeline, ctx: WorkflowContext, *, pose: PoseSpec | None) -> list:
    """The base and every pipeline derived from it that this job runs (each has its own scheduler)."""
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLInpaintPipeline

    used = [
        pipeline,
        derived_pipeline(pipeline, StableDiffusionXLImg2ImgPipeline),
        derived_pipeline(pipeline, StableDiffusionXLInpaintPipeline),
    ]
    if pose is not None:
        from gpu_worker.stages.pose_control import posed_pipeline

        used.append(posed_pipeline(pipeline, ctx.models.get("pose_control")))
    return used
