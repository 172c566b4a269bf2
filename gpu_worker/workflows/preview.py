"""The simplest real job: read the upload, report progress, write a derived preview image back.

It proves the whole path (web → Redis → GPU worker → storage → finalize) with no model cost.
"""

from __future__ import annotations

from PIL import ImageOps

from gpu_worker.context import JobContext
from gpu_worker.contract import JobResult, JobStatus
from gpu_worker.images import decode_rgb

PREVIEW_LONG_SIDE = 512


def run(ctx: JobContext) -> JobResult:
    ctx.progress.report("loading", 10)
    with ctx.timed("load"):
        image = decode_rgb(ctx.storage.read(ctx.spec.input_key))
    ctx.progress.report("preview", 50)
    with ctx.timed("preview"):
        preview = ImageOps.contain(image, (PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE))
        preview = ImageOps.grayscale(preview).convert("RGB")
    ctx.progress.report("saving", 90)
    with ctx.timed("save"):
        ctx.write_image("result", preview)
    ctx.progress.report("done", 100)
    return JobResult(
        job_id=ctx.spec.job_id,
        status=JobStatus.SUCCEEDED,
        outputs=list(ctx.outputs),
        timings=dict(ctx.timings),
        data={"input_size": [image.width, image.height]},
    )
