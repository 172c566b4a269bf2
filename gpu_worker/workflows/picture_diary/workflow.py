"""The picture diary: diary text → prompt writer → SDXL text-to-image with the style LoRA → ×2 upscale.

Progress is reported with the contract's stage names, per denoising step while painting.
"""

from __future__ import annotations

from gpu_worker.contract.picture_diary import CONTRACT, DiaryError, DiaryParams, DiaryResult, DiaryStage
from gpu_worker.errors import WorkflowError
from gpu_worker.stages.normalise import sdxl_bucket
from gpu_worker.stages.txt2img import txt2img
from gpu_worker.stages.upscale import upscale
from gpu_worker.workflow import WorkflowContext, workflow
from gpu_worker.workflows.picture_diary.prompt_writer import write_prompt

STAGE_START = {DiaryStage.WRITING: 2, DiaryStage.PAINTING: 10, DiaryStage.UPSCALING: 88, DiaryStage.SAVING: 97}
PAINT_END = 87
ASPECT = {"landscape": (4, 3), "portrait": (3, 4)}


class EmptyEntry(WorkflowError):
    code = DiaryError.EMPTY_ENTRY


def sample(size: int) -> tuple[DiaryParams, dict[str, bytes]]:
    """The benchmark's job: a Korean entry that hits scene, people, weather, mood and activity."""
    text = "오늘 친구랑 공원에서 산책했다. 날씨가 맑고 따뜻해서 기분이 좋았다. 저녁에는 카페에서 커피를 마셨다."
    return DiaryParams(text=text, seed=0, mood="happy"), {}


@workflow(CONTRACT, models=("txt2img", "upscaler"), sample=sample)
def run(ctx: WorkflowContext, params: DiaryParams) -> DiaryResult:
    if not params.text.strip():
        raise EmptyEntry("The diary entry is empty.")
    style = params.style
    diffusion = ctx.diffusion

    ctx.progress.report(DiaryStage.WRITING, STAGE_START[DiaryStage.WRITING])
    with ctx.timed("write_prompt"):
        written = write_prompt(
            ctx.openai,
            text=params.text,
            mood=params.mood,
            style_prompt=style.prompt_addition if style else "",
            style_negative=style.negative_prompt_addition if style else "",
        )

    width, height = sdxl_bucket(*ASPECT[params.orientation], target_pixels=diffusion.work_pixels)
    steps, guidance = diffusion.steps_and_guidance(style.steps if style else None, style.guidance if style else None)
    paint_start = STAGE_START[DiaryStage.PAINTING]

    def on_step(step: int, total: int) -> None:
        span = PAINT_END - paint_start
        ctx.progress.report(
            DiaryStage.PAINTING, paint_start + span * step / max(1, total), step=step, total_steps=total
        )

    ctx.progress.report(DiaryStage.PAINTING, paint_start, step=0, total_steps=steps)
    pipeline = ctx.models.get("txt2img")
    with ctx.timed("txt2img"), ctx.models.exclusive(pipeline):
        ctx.adapters.activate(pipeline, style.lora if style else None)
        painted = txt2img(
            pipeline,
            prompt=written.prompt,
            negative_prompt=written.negative_prompt,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            seed=params.seed,
            on_step=on_step,
        )

    ctx.progress.report(DiaryStage.UPSCALING, STAGE_START[DiaryStage.UPSCALING])
    with ctx.timed("upscale"):
        final = upscale(ctx.models.get("upscaler"), painted, factor=diffusion.upscale, tile=diffusion.upscale_tile)

    ctx.progress.report(DiaryStage.SAVING, STAGE_START[DiaryStage.SAVING])
    with ctx.timed("save"):
        ctx.write_image("result", final)
    ctx.progress.report(DiaryStage.DONE, 100)
    return DiaryResult(
        seed=params.seed,
        steps=steps,
        guidance=guidance,
        prompt=written.prompt,
        negative_prompt=written.negative_prompt,
        writer=written.writer,
        writer_fallback_reason=written.fallback_reason,
        style=style.slug if style else "",
        lora=style.lora.sha256 if style and style.lora else None,
        width=final.width,
        height=final.height,
    )
