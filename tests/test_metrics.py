"""Prometheus metrics: /metrics of the web tier and of the GPU workers, after real jobs ran, export
every metric the Grafana dashboard (deploy/monitoring/grafana/ontop.json) charts, with the values
those jobs must have produced."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from generation import services
from generation.models import GenerationJob
from ontop.devstack import free_port
from tests.conftest import BASE_DIR, preview_job_create, run_django_worker_burst
from tests.fake_openai import FakeOpenAI, completion, error, settings_for
from tests.photos import make_desk_photo
from tests.stack import wait_until as _wait

# The workflows of the `gpu` queue (a worker must serve all of a queue); --no-warm-up loads none.
GPU_QUEUE_WORKFLOWS = "desk_makeover,lora_check,preview,subject_photo_check"
DASHBOARD = BASE_DIR / "deploy" / "monitoring" / "grafana" / "ontop.json"
# PromQL's own words: everything else that looks like a name in an expression is a metric.
PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without",
    "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool", "topk", "bottomk",
    "delta", "deriv", "abs", "clamp_min", "clamp_max", "time", "vector", "scalar", "label_replace",
}  # fmt: skip


GPU_RECYCLES_METRIC = "ontop_gpu_worker_recycles_total"  # counted in Redis, exported by the web


def dashboard_metric_names() -> set[str]:
    """Metric names used in the dashboard's PromQL (labels, label values and ranges removed)."""
    names: set[str] = set()
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r"\{[^}]*\}", "", target["expr"])  # label matchers
            expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
            expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
            for token in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
                if token not in PROMQL_WORDS:
                    names.add(token)
    return names


def scrape(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a text exposition."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: dict) -> set[str]:
    return {name for name, _ in samples}


def _http_get(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_dashboard_names_the_metrics_of_every_part():
    found = dashboard_metric_names()
    # One per part the issue asks for, so a dashboard that lost a part fails here (and the
    # slow tests below check that every name found is really exported).
    for name in (
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "ontop_queue_oldest_job_age_seconds",
        "ontop_jobs_failed_total",
        "ontop_gpu_stage_seconds_bucket",
        "ontop_gpu_vram_peak_bytes",
        "ontop_gpu_worker_recycles_total",
        "ontop_naver_budget_left",
        "ontop_openai_fallbacks_total",
    ):
        assert name in found, name
    assert not found & PROMQL_WORDS
    assert len(found) == 29, sorted(found)


@pytest.mark.django_db
def test_metrics_answer_allowed_addresses_and_the_token_only(client, settings, redis_clean):
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue("default", connection=redis_clean, serializer=JSONSerializer)
    for _ in range(2):
        queue.enqueue("generation.tasks.sweep")  # not run: nothing works this queue in this test
    response = client.get("/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = scrape(response.content.decode())
    assert value(samples, "ontop_queue_depth", queue="default") == 2.0
    assert value(samples, "ontop_queue_depth", queue="urgent") == 0.0
    assert value(samples, "ontop_queue_oldest_job_age_seconds", queue="urgent") == 0.0
    assert 0.0 <= value(samples, "ontop_queue_oldest_job_age_seconds", queue="default") < 60.0
    assert value(samples, "ontop_redis_up") == 1.0
    assert value(samples, "ontop_naver_budget_left") == settings.NAVER_DAILY_CALL_LIMIT

    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    # Through a reverse proxy on this machine every request comes from 127.0.0.1: not enough.
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"):
        assert client.get("/metrics", **{header: "203.0.113.9"}).status_code == 403, header
    settings.METRICS_TOKEN = "s3cret-metrics-token-0123"
    good = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-0123")
    assert good.status_code == 200
    proxied = client.get(
        "/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-0123"
    )
    assert proxied.status_code == 200, "the token is what a scrape through the proxy needs"
    bad = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong-token-0123456789")
    assert bad.status_code == 403
    # A wrong token is refused even from an allowed address: a token that is sent must be right.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-0123456789").status_code == 403


def test_gpu_metrics_port_follows_the_gpu_index_and_refuses_bad_values(monkeypatch):
    from gpu_worker.config import WorkerConfigError
    from gpu_worker.metrics import metrics_port

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("ONTOP_GPU_METRICS_PORT", raising=False)
    assert metrics_port() == 0
    monkeypatch.setenv("ONTOP_GPU_METRICS_PORT", "9200")
    assert metrics_port() == 9200
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert metrics_port() == 9203
    for bad in ("nine", "-1", "70000"):
        monkeypatch.setenv("ONTOP_GPU_METRICS_PORT", bad)
        with pytest.raises(WorkerConfigError, match="ONTOP_GPU_METRICS_PORT"):
            metrics_port()


def _gpu_worker(port: int) -> subprocess.Popen:
    """The real GPU worker process (tiny preset), not in burst mode: it must still be there to be scraped."""
    env = dict(os.environ, ONTOP_GPU_METRICS_PORT=str(port))
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed with the test process
    child = subprocess.Popen(
        [sys.executable, "-m", "gpu_worker"], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    child.log = log
    return child


def _log(child: subprocess.Popen) -> str:
    child.log.seek(0)
    return child.log.read()[-4000:]


def _gpu_jobs_done(url: str, expected: int, child: subprocess.Popen):
    def done():
        assert child.poll() is None, _log(child)
        try:
            _, text = _http_get(url)
        except OSError:  # not listening yet
            return None
        samples = scrape(text)
        total = sum(v for (name, _), v in samples.items() if name == "ontop_gpu_jobs_total")
        return samples if total >= expected else None

    return done


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_dashboard_metric_is_exported_after_real_jobs(logged_in_client, user, redis_clean):
    from shop.services import catalog_load_demo

    catalog_load_demo()
    before = scrape(logged_in_client.get("/metrics").content.decode())
    # A makeover that succeeds, and a preview whose photo is gone (the GPU tier fails it: input_missing).
    posted = logged_in_client.post(reverse("makeovers:new"), {"photo": io.BytesIO(make_desk_photo())})
    assert posted.status_code == 302
    makeover = GenerationJob.objects.get(kind="desk_makeover")
    upload = services.upload_create(owner=user, file=SimpleUploadedFile("desk.jpg", make_desk_photo()))
    broken = preview_job_create(owner=user, upload=upload)
    default_storage.delete(upload.image.name)

    port = free_port()
    worker = _gpu_worker(port)
    try:
        gpu = _wait(_gpu_jobs_done(f"http://127.0.0.1:{port}/metrics", 2, worker), 300, "the GPU worker's 2 jobs")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    # A worker over its memory limit (1 MB: any process) runs one job and exits to be replaced.
    recycled = preview_job_create(owner=user, upload=upload)
    recycler = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--burst", "--no-warm-up", "--name", "metrics-recycler"],
        cwd=BASE_DIR,
        env=dict(os.environ, ONTOP_GPU_MAX_RSS_MB="1", ONTOP_GPU_WORKFLOWS=GPU_QUEUE_WORKFLOWS),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert recycler.returncode == 0, recycler.stderr[-3000:]
    assert "recycling this worker" in recycler.stderr
    run_django_worker_burst()
    makeover.refresh_from_db()
    broken.refresh_from_db()
    recycled.refresh_from_db()
    assert (makeover.status, broken.status, broken.error_code) == ("succeeded", "failed", "input_missing")
    assert (recycled.status, recycled.error_code) == ("failed", "input_missing")
    web = scrape(logged_in_client.get("/metrics").content.decode())

    # Each name from the process that really exports it: this test process has imported
    # gpu_worker.metrics too, so its own registry (in `web`) would hide a GPU metric the worker lacks.
    charted = dashboard_metric_names()
    from_gpu = {n for n in charted if n.startswith(("ontop_gpu_", "ontop_openai_"))} - {GPU_RECYCLES_METRIC}
    assert sorted(from_gpu - names(gpu)) == [], "charted GPU metrics the GPU worker does not export"
    assert sorted(charted - from_gpu - names(web)) == [], "charted metrics the web does not export"

    def delta(name: str, **labels: str) -> float:
        return (value(web, name, **labels) or 0.0) - (value(before, name, **labels) or 0.0)

    assert delta("ontop_jobs_finished_total", kind="desk_makeover", status="succeeded") == 1.0
    assert delta("ontop_jobs_finished_total", kind="preview", status="failed") == 2.0
    assert delta("ontop_jobs_failed_total", kind="preview", error_code="input_missing") == 2.0
    # Per stable slot (machine + the name's last part), not per RQ name, which is new at each start.
    assert value(web, GPU_RECYCLES_METRIC, worker=f"{socket.gethostname()}-recycler") == 1.0
    assert delta("ontop_jobs_failed_total", kind="desk_makeover", error_code="input_missing") == 0.0
    assert value(web, "ontop_queue_depth", queue="default") == 0.0
    assert value(web, "ontop_queue_depth", queue="gpu") == 0.0
    # Requests: the two /metrics scrapes before this one and the form post, per view.
    assert (
        delta(
            "django_http_requests_total_by_view_transport_method_total",
            view="makeovers:new",
            transport="http",
            method="POST",
        )
        == 1.0
    )

    assert value(gpu, "ontop_gpu_jobs_total", workflow="desk_makeover", outcome="succeeded") == 1.0
    assert value(gpu, "ontop_gpu_jobs_total", workflow="preview", outcome="input_missing") == 1.0
    assert value(gpu, "ontop_gpu_job_seconds_count", workflow="desk_makeover") == 1.0
    stages = {dict(labels)["stage"] for (name, labels) in gpu if name == "ontop_gpu_stage_seconds_count"}
    assert {"detect", "segment", "plan", "inpaint", "save"} <= stages, sorted(stages)
    assert value(gpu, "ontop_gpu_stage_seconds_count", workflow="desk_makeover", stage="inpaint") == 1.0
    assert value(gpu, "ontop_gpu_steps_total", workflow="desk_makeover") == makeover.result["data"]["steps"]
    assert value(gpu, "ontop_gpu_model_load_seconds", role="inpaint") > 0.0
    device = next(dict(labels)["device"] for (name, labels) in gpu if name == "ontop_gpu_worker_info")
    if device == "cpu":  # no VRAM on a CPU worker: the series exist, at 0
        assert value(gpu, "ontop_gpu_vram_bytes", device="cpu") == 0.0
        assert value(gpu, "ontop_gpu_job_vram_peak_bytes", workflow="desk_makeover") == 0.0
    else:
        assert value(gpu, "ontop_gpu_job_vram_peak_bytes", workflow="desk_makeover") > 0.0
    assert value(gpu, "ontop_openai_calls_total", purpose="desk_makeover_plan", outcome="ok") == 0.0


@pytest.fixture
def var_dir():
    """A var/ outside pytest's 0700 base directory (as root, PostgreSQL runs as another user)."""
    path = Path(tempfile.mkdtemp(prefix="ontop-metrics-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _two_free_ports() -> int:
    while True:
        port = free_port()
        if port < 65535 and _http_free(port + 1):
            return port


def _http_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.slow
def test_make_run_sums_every_process_into_the_web_metrics(var_dir):
    """`make run`: the web's gunicorn workers and the Django RQ worker's work horses count into one
    multi-process directory, so any web worker's /metrics has the job the Django worker finalized;
    each GPU worker serves its own port."""
    from tests.stack import Stack

    gpu_port = _two_free_ports()
    stack = Stack(
        var_dir, port=free_port(), pg_port=free_port(), redis_port=free_port(), ONTOP_GPU_METRICS_PORT=str(gpu_port)
    )
    try:
        stack.wait_ready()
        status, body = stack.json(
            "/api/auth/signup/", {"username": "mina", "email": "mina@example.com", "password": "walnut-desk-lamp"}
        )
        assert status == 201, body
        token = body["token"]
        boundary = uuid.uuid4().hex
        data = f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="desk.jpg"\r\n'.encode()
        data += b"Content-Type: image/jpeg\r\n\r\n" + make_desk_photo() + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Token {token}"}
        status, raw = stack.request("/api/makeovers/", data=data, headers=headers)
        assert status == 201, raw
        job_id = json.loads(raw)["id"]

        def finished():
            state = stack.json(f"/api/makeovers/{job_id}/", token=token)[1]["state"]
            return state["status"] if state["status"] in ("succeeded", "failed", "cancelled") else None

        assert _wait(finished, 180, f"job {job_id}") == "succeeded", stack.output()[-3000:]

        def web_counted():
            status, text = _http_get(stack.base + "/metrics")
            assert status == 200, text[:500]
            samples = scrape(text)
            done = value(samples, "ontop_jobs_finished_total", kind="desk_makeover", status="succeeded")
            return samples if done else None

        # Several scrapes: gunicorn hands them to different web workers, and each serves the sum.
        for _ in range(4):
            web = _wait(web_counted, 30, "the web's /metrics to count the job")
            assert value(web, "ontop_jobs_finished_total", kind="desk_makeover", status="succeeded") == 1.0
        posts = [
            v
            for (name, labels), v in web.items()
            if name == "django_http_requests_total_by_view_transport_method_total"
            and dict(labels)["view"] == "api:makeovers"
            and dict(labels)["method"] == "POST"
        ]
        assert posts == [1.0]
        assert value(web, "ontop_queue_depth", queue="gpu") == 0.0
        assert value(web, "ontop_queue_depth", queue="default") == 0.0

        status, text = _http_get(f"http://127.0.0.1:{gpu_port}/metrics")
        assert status == 200
        gpu = scrape(text)
        assert value(gpu, "ontop_gpu_jobs_total", workflow="desk_makeover", outcome="succeeded") == 1.0
        status, text = _http_get(f"http://127.0.0.1:{gpu_port + 1}/metrics")  # the trainer
        assert status == 200
        trainer = scrape(text)
        assert sum(v for (name, _), v in trainer.items() if name == "ontop_gpu_jobs_total") == 0.0
        # No job failed and no worker recycled here: those two series appear only once one has
        # (the test above makes both happen).
        missing = dashboard_metric_names() - names(web) - names(gpu)
        assert missing == {"ontop_jobs_failed_total", "ontop_gpu_worker_recycles_total"}, sorted(missing)
    finally:
        code = stack.stop()
    assert code == 0, stack.output()[-3000:]


def test_openai_calls_errors_and_fallbacks_are_counted_per_purpose():
    from prometheus_client import REGISTRY

    from gpu_worker.llm import structured_answer

    class WriterError(Exception):
        pass

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"purpose": "diary_picture_prompt", **labels})

    def ask(settings) -> None:
        structured_answer(
            settings,
            messages=[{"role": "user", "content": "a day at the beach"}],
            schema_name="diary_picture_prompt",
            schema={"type": "object", "properties": {}, "additionalProperties": False},
            temperature=0.2,
            error=WriterError,
        )

    ok, http_error = (
        sample("ontop_openai_calls_total", outcome="ok"),
        sample("ontop_openai_calls_total", outcome="http_error"),
    )
    fallbacks = sample("ontop_openai_fallbacks_total")
    with FakeOpenAI() as server:
        server.reply(200, completion("{}"))
        server.reply(400, error(400, "bad request"))  # a 400 is not retried
        settings = settings_for(server.base_url, retries=0)
        ask(settings)
        with pytest.raises(WriterError, match="HTTP 400"):
            ask(settings)
    assert sample("ontop_openai_calls_total", outcome="ok") - ok == 1.0
    assert sample("ontop_openai_calls_total", outcome="http_error") - http_error == 1.0
    assert sample("ontop_openai_fallbacks_total") - fallbacks == 1.0


@pytest.mark.django_db
def test_naver_calls_cache_hits_fallbacks_and_budget_reach_the_web_metrics(client, settings, redis_clean):
    from shop.naver.search import search_shopping
    from tests.fake_naver import FakeNaver

    def delta(name: str, **labels: str) -> float:
        return (value(after, name, **labels) or 0.0) - (value(before, name, **labels) or 0.0)

    query, other = f"조명 {uuid.uuid4().hex}", f"화분 {uuid.uuid4().hex}"
    with FakeNaver() as naver:
        settings.NAVER_CLIENT_ID, settings.NAVER_CLIENT_SECRET = "id", "secret"
        settings.NAVER_API_BASE_URL, settings.NAVER_MAX_RETRIES = naver.base_url, 1
        settings.NAVER_DAILY_CALL_LIMIT = 2
        before = scrape(client.get("/metrics").content.decode())
        assert search_shopping(query).source == "naver"
        assert search_shopping(query).source == "cache"
        settings.NAVER_CACHE_SECONDS = 0  # stale from now on: the next search calls Naver, which is down
        naver.fail(500)
        naver.fail(500)
        assert search_shopping(query).source == "stale-cache"
        assert search_shopping(other).source == "none"  # the day's 2 calls are spent
        after = scrape(client.get("/metrics").content.decode())
    assert [delta("ontop_naver_searches_total", source=s) for s in ("naver", "cache", "stale-cache", "none")] == [
        1.0,
        1.0,
        1.0,
        1.0,
    ]
    assert delta("ontop_naver_calls_total", outcome="ok") == 1.0
    assert delta("ontop_naver_calls_total", outcome="NaverUnavailable") == 1.0
    assert delta("ontop_naver_fallbacks_total", reason="error") == 1.0
    assert delta("ontop_naver_fallbacks_total", reason="budget_spent") == 1.0
    assert delta("ontop_naver_fallbacks_total", reason="not_configured") == 0.0
    assert value(after, "ontop_naver_budget_left") == 0.0
    assert value(after, "ontop_naver_budget_limit") == 2.0
