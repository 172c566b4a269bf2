"""Pipelines derived from the shared text-to-image SDXL pipeline (img2img, inpaint, ControlNet), built once.

`from_pipe` builds a new pipeline class around the *same* component objects: the UNet, the VAE, both
text encoders, both tokenizers and the scheduler. So a derived pipeline costs no memory, and whatever
is active on the base (LoRA adapters set with `set_adapters`, textual-inversion tokens added to the
tokenizers/embeddings) applies to it too; the registry's pipeline lock (one per UNet) covers them all.

diffusers quirk: `from_pipe` ends with `pipeline.to(dtype=...)`, float32 when no dtype is passed, and
`.to` casts modules in place. Without `dtype=base.dtype` an fp16 base would be silently upcast to fp32,
shared UNet and all. Extra components (a ControlNet) are cast to the base's dtype the same way.
"""

from __future__ import annotations

import threading
from typing import Any

_cache: dict[tuple, tuple[Any, tuple, Any]] = {}
_lock = threading.Lock()


def derived_pipeline(base: Any, pipeline_class: type, **extra_components: Any) -> Any:
    """`pipeline_class` sharing `base`'s components (plus `extra_components`), once per process."""
    extras = tuple(sorted((name, id(component)) for name, component in extra_components.items()))
    key = (id(base), pipeline_class, extras)
    with _lock:
        entry = _cache.get(key)
        if entry is None:
            pipeline = pipeline_class.from_pipe(base, dtype=base.dtype, **extra_components)
            pipeline.set_progress_bar_config(disable=True)
            # The entry keeps base and extras alive, so their ids (the key) can never be reused by other objects.
            entry = (base, tuple(extra_components.values()), pipeline)
            _cache[key] = entry
        return entry[2]
