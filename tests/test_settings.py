"""Bad configuration stops the process with one clear line, not a traceback."""

import os
import subprocess
import sys

import pytest

from tests.conftest import BASE_DIR

GOOD_SECRET = "k3y-" + "x7Qp2Lm9Vb4Zr8Tn1Wc6Yd0Hs5Jf3Ga" * 2


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DEBUG": "false", "ALLOWED_HOSTS": "ontop.example"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": GOOD_SECRET}, "ALLOWED_HOSTS"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "mysql://db.example/ontop"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://db.example:notaport/ontop"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://redis.example"}, "REDIS_URL"),
        ({"ONTOP_DAILY_GENERATION_LIMIT": "lots"}, "ONTOP_DAILY_GENERATION_LIMIT"),
        ({"ONTOP_JOB_TIMEOUTS": "picture_diary=soon"}, "ONTOP_JOB_TIMEOUTS"),
        ({"ONTOP_JOB_TIMEOUTS": "paint_the_cat=600"}, "ONTOP_JOB_TIMEOUTS names unknown workflows: paint_the_cat"),
        ({"ONTOP_GPU_JOB_TIMEOUT": "900"}, "ONTOP_GPU_JOB_TIMEOUT is gone"),
        (
            {"BEHIND_TLS_PROXY": "true", "ONTOP_TRUSTED_PROXY_COUNT": "0"},
            "ONTOP_TRUSTED_PROXY_COUNT must be at least 1",
        ),
        ({"ONTOP_DEV_PG_PORT": "70000"}, "ONTOP_DEV_PG_PORT must be at most 65535"),
        (
            {"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/ontop-metrics"},
            "PROMETHEUS_MULTIPROC_DIR='/nonexistent/ontop-metrics' must be an existing folder",
        ),
        ({"ONTOP_METRICS_TOKEN": "short"}, "ONTOP_METRICS_TOKEN must be at least 16 characters"),
    ],
)
def test_bad_configuration_is_one_clear_line(env, names):
    done = _manage("check", **env)
    assert done.returncode == 2
    assert names in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("OnTop configuration error:")


def test_production_settings_pass_check_deploy_without_warnings():
    done = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=GOOD_SECRET,
        ALLOWED_HOSTS="ontop.example",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_gpu_worker_reports_bad_configuration_plainly():
    environment = dict(os.environ, ONTOP_GPU_MODEL_PRESET="huge")
    done = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"], cwd=BASE_DIR, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "ONTOP_GPU_MODEL_PRESET" in done.stderr
    assert "Traceback" not in done.stderr
