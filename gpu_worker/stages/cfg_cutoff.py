"""Classifier-free guidance for the first share of the steps only; the rest run at batch 1.

Guidance matters most while the composition forms; late steps mostly refine detail, and without
guidance they cost one UNet pass instead of two (ONTOP_GPU_CFG_CUTOFF, off by default until its
quality is judged).

diffusers' `SDXLCFGCutoffCallback` slices only the text embeddings and time ids. The inpaint pipeline
also doubles `mask` and `masked_image_latents` for guidance, and keeps using them after the cut:
the 9-channel UNet would get a batch-2 mask next to batch-1 latents (a shape error), and the
4-channel path would blend a batch-2 mask into the latents (turning them into batch 2). This callback
slices every guidance-doubled input the pipeline hands it, and also reports each step's progress
(diffusers takes one callback per call).
"""

from __future__ import annotations

from collections.abc import Callable

# Tensors diffusers' SDXL pipelines stack as [unconditional, conditional] under guidance: after the
# cut-off only the conditional half (the last) is kept. Each pipeline offers a subset of them.
GUIDANCE_DOUBLED = ("prompt_embeds", "add_text_embeds", "add_time_ids", "mask", "masked_image_latents")


def guided_steps(share: float, total: int) -> int:
    """How many of `total` steps use guidance at `share` (at least one; `total` when off: 0 or 1)."""
    if not 0 < share < 1:
        return total
    return min(total, max(1, round(share * total)))


class StepEnd:
    """diffusers' `callback_on_step_end`: reports (step, total) and applies the CFG cut-off.

    Pass `tensor_inputs(pipeline)` as `callback_on_step_end_tensor_inputs` with it.
    """

    def __init__(self, on_step: Callable[[int, int], None] | None = None, *, cfg_cutoff: float = 1.0) -> None:
        self.on_step = on_step
        self.cfg_cutoff = cfg_cutoff
        self.cut_at: int | None = None  # the step after which guidance stopped (for tests and logs)

    @property
    def cutting(self) -> bool:
        return 0 < self.cfg_cutoff < 1

    def tensor_inputs(self, pipeline) -> list[str]:
        """What the pipeline must hand this callback: only the latents when there is no cut-off, so
        the stock path is unchanged."""
        names = ["latents"]
        if self.cutting:
            names += [n for n in GUIDANCE_DOUBLED if n in pipeline._callback_tensor_inputs]
        return names

    def __call__(self, pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
        total = pipeline.num_timesteps
        if (
            self.cutting
            and pipeline.do_classifier_free_guidance
            and step + 1 == guided_steps(self.cfg_cutoff, total)
            and step + 1 < total
        ):
            for name in GUIDANCE_DOUBLED:
                value = callback_kwargs.get(name)
                if value is not None:
                    callback_kwargs[name] = value[-1:]
            # do_classifier_free_guidance reads this: the next steps neither double nor combine.
            # The pipeline sets it again at the start of every call.
            pipeline._guidance_scale = 0.0
            self.cut_at = step + 1
        if self.on_step is not None:
            self.on_step(step + 1, total)
        return callback_kwargs
