"""Structured logs: every line about a job carries its id, in the GPU worker and the Django worker.

Real jobs through the real worker processes; their stderr is what an operator's log shipper
would read (ONTOP_LOG_FORMAT=json: one JSON object per line).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from generation import services
from generation.models import GenerationJob
from tests.conftest import BASE_DIR, preview_job_create, run_gpu_worker_burst
from tests.photos import make_desk_photo

DJANGO_WORKER = [sys.executable, "manage.py", "rqworker", "urgent", "default"]
DJANGO_WORKER += ["--serializer", "rq.serializers.JSONSerializer"]
RQ_ID = "0b7c1f7e-1d2a-4c3b-9e8f-0123456789ab"
JSON_KEYS = {"time", "level", "logger", "message", "job_id", "process", "tier"}


def _json_lines(stderr: str) -> list[dict]:
    """Every line of the output as JSON (a line that is not JSON fails the test: shippers need all)."""
    entries = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return entries


def _job_window(entries: list[dict], rq_job_id: str) -> list[dict]:
    """Every line from RQ taking the job to RQ's last word on it (`... result is kept ...`)."""
    naming = [i for i, e in enumerate(entries) if rq_job_id in e["message"]]
    window = entries[naming[0] : naming[-1] + 1]
    assert [e for e in window if e["message"].endswith(f"Job OK ({rq_job_id})")] != [], window
    return window


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_line_of_a_job_carries_its_id_in_both_workers(user, redis_clean, monkeypatch):
    upload = services.upload_create(owner=user, file=SimpleUploadedFile("desk.jpg", make_desk_photo()))
    job = preview_job_create(owner=user, upload=upload)
    job_id = str(job.id)

    monkeypatch.setenv("ONTOP_LOG_FORMAT", "json")
    gpu = run_gpu_worker_burst()
    assert gpu.returncode == 0, gpu.stderr[-3000:]
    gpu_lines = _json_lines(gpu.stderr)
    assert all(set(e) >= JSON_KEYS and e["tier"] == "gpu" for e in gpu_lines), gpu_lines[:3]
    window = _job_window(gpu_lines, f"gpu-{job_id}")
    assert [e for e in window if e["job_id"] != job_id] == []
    # Our own lines (tagged through the job's context, not by naming it) are in there too.
    ours = [(e["logger"], e["message"].split(" in ")[0]) for e in window if e["logger"] == "gpu_worker.jobs"]
    assert ours == [("gpu_worker.jobs", "preview job started"), ("gpu_worker.jobs", "preview job succeeded")]
    # Lines before the job (start-up) name no job: the id is not stamped on everything.
    serving = next(e for e in gpu_lines if e["message"].startswith("serving "))
    assert serving["job_id"] is None
    assert serving["logger"] == "gpu_worker"
    assert {e["job_id"] for e in gpu_lines} == {None, job_id}
    assert {e["job_id"] for e in gpu_lines if job_id in e["message"]} == {job_id}

    # The Django worker is a real `manage.py rqworker` process on the test database.
    database = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    django = subprocess.run(
        [*DJANGO_WORKER, "--burst"],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": urlunsplit(database), "ONTOP_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert django.returncode == 0, django.stderr[-3000:]
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, (job.error_code, django.stderr[-3000:])
    web_lines = _json_lines(django.stderr)
    assert all(set(e) >= JSON_KEYS and e["tier"] == "web" for e in web_lines), web_lines[:3]
    window = _job_window(web_lines, f"finalize-{job_id}")
    assert [e for e in window if e["job_id"] != job_id] == []
    ours = [e["message"] for e in window if e["logger"] == "generation.tasks"]
    assert ours == ["finalized attempt 1: succeeded"]
    # The GPU worker's start announcement is an RQ job of its own; its lines carry the job id too.
    announcement = [e for e in web_lines if f"started-gpu-{job_id}" in e["message"]]
    assert [e["message"].split(": ")[-1] for e in announcement if "Job OK" in e["message"]] == [
        f"Job OK (started-gpu-{job_id})"
    ]
    assert {e["job_id"] for e in announcement} == {job_id}
    # Only one job ran: no line names another id, and every line naming this one carries it.
    assert {e["job_id"] for e in web_lines} == {None, job_id}
    assert {e["job_id"] for e in web_lines if job_id in e["message"]} == {job_id}


def test_plain_lines_append_the_job_id_and_json_lines_hold_it():
    script = (
        "import logging,sys\n"
        "from gpu_worker.logs import configure_logging, job_log_context\n"
        "configure_logging()\n"
        "log = logging.getLogger('gpu_worker.test')\n"
        "log.info('outside')\n"
        "with job_log_context('j-1'):\n"
        "    log.warning('inside %s', 42)\n"
        "    try:\n"
        "        raise ValueError('boom')\n"
        "    except ValueError:\n"
        "        log.exception('failed')\n"
        f"logging.getLogger('rq.worker').info('Job OK (gpu-{RQ_ID})')\n"
    )

    def run(log_format: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=BASE_DIR,
            env={**os.environ, "ONTOP_LOG_FORMAT": log_format},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.splitlines()

    plain = run("plain")
    assert plain[0].endswith(" INFO gpu_worker gpu_worker.test: outside")
    assert plain[1].endswith(" WARNING gpu_worker gpu_worker.test: inside 42 job=j-1")
    assert plain[2].endswith(" ERROR gpu_worker gpu_worker.test: failed job=j-1")
    assert plain[3] == "Traceback (most recent call last):"
    assert plain[-2] == "ValueError: boom"
    assert plain[-1].endswith(f" rq.worker: Job OK (gpu-{RQ_ID}) job={RQ_ID}")

    entries = [json.loads(line) for line in run("json")]
    assert [(e["level"], e["message"], e["job_id"]) for e in entries] == [
        ("INFO", "outside", None),
        ("WARNING", "inside 42", "j-1"),
        ("ERROR", "failed", "j-1"),
        ("INFO", f"Job OK (gpu-{RQ_ID})", RQ_ID),
    ]
    assert entries[2]["exc"].splitlines()[-1] == "ValueError: boom"
    assert {e["tier"] for e in entries} == {"gpu"}


def test_a_bad_log_format_stops_both_tiers_with_one_line():
    env = {**os.environ, "ONTOP_LOG_FORMAT": "xml"}
    gpu = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gpu.returncode == 2
    assert gpu.stderr.strip() == "gpu_worker configuration error: ONTOP_LOG_FORMAT must be plain or json; got 'xml'."
    web = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert web.returncode == 2
    assert "ONTOP_LOG_FORMAT must be plain or json; got 'xml'." in web.stderr
