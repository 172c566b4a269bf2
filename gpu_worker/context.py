"""What a workflow gets to work with: all I/O goes through here (storage, progress, models)."""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from gpu_worker.contract import JobSpec, OutputImage
from gpu_worker.progress import ProgressReporter
from gpu_worker.storage import Storage

if TYPE_CHECKING:
    from gpu_worker.registry import ModelRegistry
    from gpu_worker.runtime import Runtime


@dataclass
class JobContext:
    spec: JobSpec
    storage: Storage
    progress: ProgressReporter
    models: ModelRegistry
    runtime: Runtime
    timings: dict[str, float] = field(default_factory=dict)
    outputs: list[OutputImage] = field(default_factory=list)

    @contextmanager
    def timed(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - started, 4)

    def write_image(self, role: str, image: Image.Image, *, name: str | None = None) -> OutputImage:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        key = f"{self.spec.output_prefix}{name or role}.png"
        self.storage.write(key, buffer.getvalue(), "image/png")
        output = OutputImage(role=role, key=key, width=image.width, height=image.height)
        self.outputs.append(output)
        return output
