"""Two machines on one: the web tier and a GPU worker in separate network namespaces.

The shape of a web box plus a GPU box (README "Two machines"), proved here with Linux network
namespaces joined by veth pairs:

    root namespace ("the data services"): PostgreSQL, Redis and S3 (SeaweedFS) on 10.77.N.1
    namespace web: 10.77.N.2, the web server and the Django worker (own temp dir as its disk)
    namespace gpu: 10.77.N.6, a GPU worker (tiny preset) with its own temp dir and NO media root

Each namespace has only its own loopback and its veth, so a process there reaches PostgreSQL,
Redis and S3 only over those addresses, and the two namespaces have no route to each other at
all (the GPU box never talks to the web server). The test process talks to the web over
10.77.N.2 as a phone would, and downloads the result from S3 through the signed URL the web
hands out. The two sides share no directory: pictures travel only through the bucket.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from ontop.devstack import EmbeddedPostgres, EmbeddedRedis, free_port, gpu_worker_split
from ontop.webserver import web_command
from tests.conftest import BASE_DIR
from tests.photos import make_desk_photo
from tests.s3_server import S3Server, start_s3_server

pytestmark = [
    pytest.mark.slow,
    # Start-up, migrations and one makeover take about 3 minutes here; the waits below add up to more.
    pytest.mark.timeout(1200),
    # Skipped only outside CI: in CI a missing capability must fail, not pass by skipping.
    pytest.mark.skipif(
        not os.environ.get("CI") and (os.geteuid() != 0 or shutil.which("ip") is None),
        reason="network namespaces need root and iproute2's `ip` (run as root on Linux)",
    ),
]

WEB_PORT = 8000  # the web namespace is a fresh network stack: any port is free there
JOB_TIMEOUT_SECONDS = 420  # a tiny-preset makeover on a shared 2-core CPU, with generous room
START_TIMEOUT_SECONDS = 180


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


@dataclass
class Network:
    """Two namespaces, each on its own veth pair to the root namespace; names unique per run."""

    suffix: str
    subnet: int  # N in 10.77.N.0/24
    web_ns: str = ""
    gpu_ns: str = ""
    links: list[str] = field(default_factory=list)  # root-side veth ends

    @property
    def services_ip(self) -> str:  # PostgreSQL, Redis and S3 listen here (the root side of the web veth)
        return f"10.77.{self.subnet}.1"

    @property
    def web_ip(self) -> str:
        return f"10.77.{self.subnet}.2"

    @property
    def gpu_gateway_ip(self) -> str:
        return f"10.77.{self.subnet}.5"

    @property
    def gpu_ip(self) -> str:
        return f"10.77.{self.subnet}.6"

    def exec_prefix(self, namespace: str) -> list[str]:
        return ["ip", "netns", "exec", namespace]

    def create(self) -> None:
        self.web_ns, self.gpu_ns = f"ontop-web-{self.suffix}", f"ontop-gpu-{self.suffix}"
        for namespace, link, root_ip, inner_ip in (
            (self.web_ns, f"ow{self.suffix}", self.services_ip, self.web_ip),
            (self.gpu_ns, f"og{self.suffix}", self.gpu_gateway_ip, self.gpu_ip),
        ):
            _ip("netns", "add", namespace)
            _ip("link", "add", link, "type", "veth", "peer", "name", f"{link}p")
            self.links.append(link)
            _ip("link", "set", f"{link}p", "netns", namespace)
            _ip("addr", "add", f"{root_ip}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("-n", namespace, "addr", "add", f"{inner_ip}/30", "dev", f"{link}p")
            _ip("-n", namespace, "link", "set", f"{link}p", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        # The GPU box reaches the services' one address through its own gateway; nothing else.
        _ip("-n", self.gpu_ns, "route", "add", f"{self.services_ip}/32", "via", self.gpu_gateway_ip)

    def destroy(self) -> None:
        for link in self.links:
            with contextlib.suppress(RuntimeError):
                _ip("link", "del", link)
        for namespace in (self.web_ns, self.gpu_ns):
            if namespace:
                with contextlib.suppress(RuntimeError):
                    _ip("netns", "del", namespace)


def _unused_subnet() -> int:
    taken = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
    free = [n for n in range(256) if f" 10.77.{n}." not in taken]
    assert free, "every 10.77.N.0/24 is in use on this machine"
    return random.choice(free)


@pytest.fixture
def network() -> Iterator[Network]:
    net = Network(suffix=secrets.token_hex(3), subnet=_unused_subnet())
    try:
        net.create()
        yield net
    finally:  # also when create() failed half-way, and whatever the test did
        net.destroy()


class ListeningPostgres(EmbeddedPostgres):
    """devstack's embedded PostgreSQL, listening on `address` too and trusting the namespaces' subnet."""

    def __init__(self, data_dir: Path, port: int, *, address: str, subnet: str) -> None:
        super().__init__(data_dir, port)
        self.address = address
        self.subnet = subnet

    @property
    def url(self) -> str:
        return f"postgres://postgres@{self.address}:{self.port}/{self.database}"

    def _run(self, tool: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        if tool == "pg_ctl" and "start" in args:
            listen = [a.replace("-h 127.0.0.1 ", f"-h 127.0.0.1,{self.address} ") for a in args]
            assert listen != args, "devstack's PostgreSQL options changed: listen on the address another way"
            args = listen
        done = super()._run(tool, args)
        if tool == "initdb" and done.returncode == 0:
            with (self.data_dir / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.subnet} trust\n")
        return done


@dataclass
class Services:
    postgres: ListeningPostgres
    redis: EmbeddedRedis
    redis_url: str
    s3: S3Server


@pytest.fixture
def services(network: Network, tmp_path: Path) -> Iterator[Services]:
    started: list = []
    try:
        postgres = ListeningPostgres(
            tmp_path / "services" / "postgres",
            free_port(),
            address=network.services_ip,
            subnet=f"10.77.{network.subnet}.0/24",
        )
        postgres.start()
        started.append(postgres)
        redis_server = EmbeddedRedis(tmp_path / "services" / "redis", free_port())
        redis_server.start()
        started.append(redis_server)
        # Listen on the services address too (devstack binds loopback only; Redis allows this at run time).
        redis_server._client().config_set("bind", f"127.0.0.1 {network.services_ip}")
        s3 = start_s3_server(tmp_path / "services" / "s3", ip=network.services_ip)
        started.append(s3)
        yield Services(
            postgres=postgres,
            redis=redis_server,
            redis_url=f"redis://{network.services_ip}:{redis_server.port}/0",
            s3=s3,
        )
    finally:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()


class NamespacedProcess:
    """A process in a namespace, its output in a file; stopped with its whole process group."""

    def __init__(self, name: str, prefix: list[str], args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*prefix, *args], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
        # Always, leader dead or not: its children (uvicorn workers, RQ work horses) are in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def _base_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing of the test run's own servers or media leaks in."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "2",
        "ONTOP_LOG_FORMAT": "plain",
    }


def _connect_errno(network: Network, namespace: str, host: str, port: int) -> int:
    """connect_ex() from inside `namespace`: 0 when something answers, else the errno."""
    probe = "import socket,sys;s=socket.socket();s.settimeout(5);print(s.connect_ex((sys.argv[1],int(sys.argv[2]))))"
    done = subprocess.run(
        [*network.exec_prefix(namespace), sys.executable, "-c", probe, host, str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def _wait_for(predicate, *, timeout: float, what: str, processes: list[NamespacedProcess]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            assert process.alive(), f"{process.name} exited while waiting for {what}:\n{process.output()[-4000:]}"
        if predicate():
            return
        time.sleep(0.5)
    logs = "\n".join(f"--- {p.name}:\n{p.output()[-3000:]}" for p in processes)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


def _pictures(root: Path) -> list[str]:
    suffixes = (".jpg", ".jpeg", ".png", ".webp")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def test_web_and_gpu_worker_on_separate_hosts_share_only_services(network: Network, services: Services, tmp_path):
    web_home, gpu_home = tmp_path / "web-box", tmp_path / "gpu-box"
    s3_env = services.s3.env()
    web_env = {
        **_base_env(web_home),
        **{k: v for k, v in s3_env.items() if not k.startswith("ONTOP_GPU_")},
        "DJANGO_SETTINGS_MODULE": "ontop.settings",
        "DEBUG": "true",
        "DATABASE_URL": services.postgres.url,
        "REDIS_URL": services.redis_url,
        "MEDIA_ROOT": str(web_home / "media"),
        "ONTOP_VAR_DIR": str(web_home / "var"),
        "ALLOWED_HOSTS": network.web_ip,
        "ONTOP_WEB_WORKERS": "1",
    }
    gpu_env = {
        **_base_env(gpu_home),
        **{k: v for k, v in s3_env.items() if k.startswith(("ONTOP_GPU_", "AWS_"))},
        "ONTOP_GPU_REDIS_URL": services.redis_url,
        "ONTOP_GPU_MODEL_PRESET": "tiny",
        # Tiny models are built once per machine; a real GPU box has its own model directory.
        "ONTOP_GPU_MODEL_DIR": os.environ.get("ONTOP_GPU_MODEL_DIR", str(BASE_DIR / "var" / "models")),
        # The picture workflows, as `make run`'s picture worker serves them (training has its own).
        "ONTOP_GPU_WORKFLOWS": gpu_worker_split()[0],
        "ONTOP_GPU_STEPS": "2",
        "ONTOP_GPU_DEVICE": "cpu",
    }
    # The GPU box knows nothing of the web box's database, Redis name or disk.
    assert not {"DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "ONTOP_GPU_MEDIA_ROOT"} & gpu_env.keys()

    # Isolation first: both boxes reach the services' address; neither sees the other, nor the
    # root namespace's loopback, where every server also listens.
    redis_port = services.redis.port
    assert _connect_errno(network, network.gpu_ns, network.services_ip, redis_port) == 0
    assert _connect_errno(network, network.web_ns, network.services_ip, redis_port) == 0
    assert _connect_errno(network, network.web_ns, "127.0.0.1", redis_port) == errno.ECONNREFUSED
    assert _connect_errno(network, network.gpu_ns, "127.0.0.1", services.postgres.port) == errno.ECONNREFUSED

    processes: list[NamespacedProcess] = []
    try:
        web_prefix = network.exec_prefix(network.web_ns)
        release = subprocess.run(
            [*web_prefix, sys.executable, "manage.py", "migrate", "--no-input"],
            cwd=BASE_DIR,
            env=web_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert release.returncode == 0, release.stdout[-2000:] + release.stderr[-3000:]
        processes.append(NamespacedProcess("web", web_prefix, web_command(network.web_ip, WEB_PORT), web_env, tmp_path))
        django_worker = [sys.executable, "manage.py", "rqworker", "urgent", "default", "--with-scheduler"]
        django_worker += ["--serializer", "rq.serializers.JSONSerializer"]
        processes.append(NamespacedProcess("django-worker", web_prefix, django_worker, web_env, tmp_path))
        gpu_worker = NamespacedProcess(
            "gpu-worker", network.exec_prefix(network.gpu_ns), [sys.executable, "-m", "gpu_worker"], gpu_env, tmp_path
        )
        processes.append(gpu_worker)

        base = f"http://{network.web_ip}:{WEB_PORT}"
        with httpx.Client(base_url=base, timeout=30) as api:

            def web_up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return api.get("/healthz/").status_code == 200
                return False

            _wait_for(web_up, timeout=START_TIMEOUT_SECONDS, what="the web server", processes=processes)
            _wait_for(
                lambda: " INFO gpu_worker gpu_worker: serving " in gpu_worker.output(),
                timeout=START_TIMEOUT_SECONDS,
                what="the GPU worker",
                processes=processes,
            )
            # The web's port is there for the phone (this process) but unreachable from the GPU box.
            assert _connect_errno(network, network.gpu_ns, network.web_ip, WEB_PORT) == errno.ENETUNREACH

            signup = api.post(
                "/api/auth/signup/",
                json={"username": "dana", "email": "dana@example.com", "password": "two-hosts-one-desk"},
            )
            assert signup.status_code == 201, signup.text
            auth = {"Authorization": f"Token {signup.json()['token']}"}
            created = api.post(
                "/api/makeovers/", files={"photo": ("desk.jpg", make_desk_photo(), "image/jpeg")}, headers=auth
            )
            assert created.status_code == 201, created.text
            job_id = created.json()["id"]

            def finished() -> bool:
                state = api.get(f"/api/makeovers/{job_id}/", headers=auth).json()["state"]
                return state["status"] in ("succeeded", "failed", "cancelled")

            _wait_for(finished, timeout=JOB_TIMEOUT_SECONDS, what=f"makeover {job_id}", processes=processes)
            detail = api.get(f"/api/makeovers/{job_id}/", headers=auth).json()
            assert detail["state"]["status"] == "succeeded", (detail["state"], gpu_worker.output()[-3000:])
            result_url = detail["images"]["result"]
            assert result_url == f"{base}/api/makeovers/{job_id}/images/result/"

            redirect = api.get(result_url, headers=auth)
            assert redirect.status_code == 302, redirect.text
            signed = redirect.headers["location"]

        # The signed URL points at the bucket on the services' address; it works without a token,
        # the same object without the signature does not.
        parts = urlsplit(signed)
        assert f"{parts.scheme}://{parts.netloc}" == services.s3.endpoint_url
        bucket, _, key = parts.path.lstrip("/").partition("/")
        assert bucket == services.s3.bucket
        assert key.startswith("results/"), key
        assert f"/{job_id}/" in key, key
        assert "X-Amz-Signature=" in parts.query
        downloaded = httpx.get(signed, timeout=30)
        assert downloaded.status_code == 200
        stored = services.s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        assert downloaded.content == stored
        picture = Image.open(io.BytesIO(downloaded.content))
        picture.load()
        assert min(picture.size) > 0
        assert httpx.get(f"{services.s3.endpoint_url}/{bucket}/{key}", timeout=30).status_code == 403

        # Every picture of the job lives in the bucket: the upload the web wrote, the results the
        # GPU worker wrote. Neither box kept a picture on its own disk.
        keys = services.s3.keys()
        assert any(k.startswith("uploads/") for k in keys), keys
        assert key in keys
        assert _pictures(web_home) == []
        assert _pictures(gpu_home) == []
        # The GPU worker's lines about the job carry its id (gpu_worker/logs.py).
        assert f"job={job_id}" in gpu_worker.output()
    finally:
        for process in reversed(processes):
            process.stop()
