"""The two tiers stay apart at run time too, not only in import-linter's static graph."""

import os
import subprocess
import sys

from tests.conftest import BASE_DIR

WEB_TIER_IMPORTS = """
import django, sys
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # imports every view, API and app module
import generation.tasks, generation.dispatch, ontop.devstack
heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
print(",".join(heavy) or "clean")
"""

GPU_TIER_IMPORTS = """
import sys
import gpu_worker.jobs, gpu_worker.registry, gpu_worker.__main__
web = ("django", "rest_framework", "generation", "shop", "ontop")
print(",".join(sorted(m for m in web if m in sys.modules)) or "clean")
"""


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=dict(os.environ), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_web_tier_never_loads_torch():
    assert _run(WEB_TIER_IMPORTS) == "clean"


def test_gpu_tier_never_loads_django():
    assert _run(GPU_TIER_IMPORTS) == "clean"
