"""The engine's smoke test: read the photo, report progress, write a greyscale preview back.

It proves the whole path (web → Redis → GPU worker → storage → finalize) with no model cost.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from gpu_worker.contract.preview import CONTRACT, PHOTO_INPUT, PreviewParams, PreviewResult, PreviewStage
from gpu_worker.images import decode_rgb
from gpu_worker.workflow import WorkflowContext, workflow

PREVIEW_LONG_SIDE = 512


def sample(size: int) -> tuple[PreviewParams, dict[str, bytes]]:
    buffer = io.BytesIO()
    Image.new("RGB", (size * 4 // 3, size), (181, 136, 99)).save(buffer, "JPEG")
    return PreviewParams(), {PHOTO_INPUT: buffer.getvalue()}


@workflow(CONTRACT, models=(), sample=sample)
def run(ctx: WorkflowContext, params: PreviewParams) -> PreviewResult:
    ctx.progress.report(PreviewStage.LOADING, 10)
    with ctx.timed("load"):
        image = decode_rgb(ctx.read_input(PHOTO_INPUT))
    ctx.progress.report(PreviewStage.PREVIEW, 50)
    with ctx.timed("preview"):
        preview = ImageOps.contain(image, (PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))
        preview = ImageOps.grayscale(preview).convert("RGB")
    ctx.progress.report(PreviewStage.SAVING, 90)
    with ctx.timed("save"):
        ctx.write_image("result", preview)
    ctx.progress.report(PreviewStage.DONE, 100)
    return PreviewResult(input_size=[image.width, image.height])
