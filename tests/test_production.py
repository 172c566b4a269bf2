"""Production (issue 14): the systemd units in deploy/systemd start real commands, a clean checkout
started the way those units start it serves pages, hashed static files and /healthz/, every response
carries the Content-Security-Policy, and /api/docs/ and /api/schema/ are staff-only unless
ONTOP_API_DOCS_PUBLIC says otherwise."""

from __future__ import annotations

import configparser
import http.client
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import get_commands, load_command_class

from ontop.devstack import free_port
from tests.conftest import BASE_DIR

UNITS = BASE_DIR / "deploy" / "systemd"
PYTHON = "/srv/ontop/.venv/bin/python"
CHECKOUT = "/srv/ontop"
ENV_FILE = "/etc/ontop/ontop.env"
# The policy every response carries (ontop/settings.py), directive by directive.
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "blob:", "https://*.pstatic.net", "https://*.naver.net", "https://*.naver.com"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


class _MultiDict(dict):
    """configparser storage that keeps every value of a repeated key (systemd allows several
    ExecStart= in a oneshot and several EnvironmentFile=); they come back joined by newlines."""

    def __setitem__(self, key, value):
        if isinstance(value, list) and key in self:
            super().__getitem__(key).extend(value)
        else:
            super().__setitem__(key, value)


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, dict_type=_MultiDict, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNITS / name)
    return parser


def _values(unit: configparser.RawConfigParser, section: str, key: str) -> list[str]:
    return unit.get(section, key, fallback="").splitlines()


def policy_of(header: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources} (django-csp does not keep the directives' order)."""
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


# --- the unit files ---------------------------------------------------------------------------------

SERVICES = {
    "ontop-release.service": [
        f"{PYTHON} manage.py migrate --no-input",
        f"{PYTHON} manage.py collectstatic --no-input",
    ],
    "ontop-web.service": [f"{PYTHON} -m ontop.webserver --bind 127.0.0.1:8000"],
    "ontop-worker.service": [
        f"{PYTHON} manage.py rqworker urgent default --with-scheduler --serializer rq.serializers.JSONSerializer"
    ],
    "ontop-periodic.service": [f"{PYTHON} manage.py periodic"],
    "ontop-gpu@.service": [f"{PYTHON} -m gpu_worker --name-suffix gpu%i"],
}


def test_the_unit_set_is_exactly_one_unit_per_process_type():
    assert sorted(path.name for path in UNITS.iterdir()) == sorted([*SERVICES, "ontop.target"])
    target = _unit("ontop.target")
    assert target.get("Unit", "Wants").split() == [
        "ontop-release.service",
        "ontop-web.service",
        "ontop-worker.service",
        "ontop-periodic.service",
    ]
    assert target.get("Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_unit_restarts_on_failure_with_limits_and_reads_the_environment_file(name):
    unit = _unit(name)
    assert _values(unit, "Service", "ExecStart") == SERVICES[name]
    # A GPU worker that recycles itself (ONTOP_GPU_MAX_JOBS, ONTOP_GPU_MAX_RSS_MB) exits 0 on purpose
    # and must come back; every other process exits 0 only when asked to stop.
    assert unit.get("Service", "Restart") == ("always" if name == "ontop-gpu@.service" else "on-failure")
    assert 1 <= int(unit.get("Service", "RestartSec")) <= 10
    # Gives up (loudly: the unit is "failed") only after repeated fast crashes.
    assert int(unit.get("Unit", "StartLimitBurst")) >= 5
    assert int(unit.get("Unit", "StartLimitIntervalSec")) >= 300
    assert _values(unit, "Service", "EnvironmentFile")[0] == ENV_FILE
    assert unit.get("Service", "WorkingDirectory") == CHECKOUT
    assert unit.get("Service", "User") == "ontop"
    assert unit.get("Unit", "PartOf") == "ontop.target"
    assert unit.get("Install", "WantedBy") == "ontop.target"
    if name == "ontop-release.service":
        assert unit.get("Service", "Type") == "oneshot"
    else:
        assert unit.get("Service", "Type") == "simple"
    if name in ("ontop-web.service", "ontop-worker.service", "ontop-periodic.service"):
        assert unit.get("Unit", "Requires") == "ontop-release.service"
        assert unit.get("Unit", "After") == "ontop-release.service"


def test_the_web_starts_only_after_the_release_collected_static_files():
    unit = _unit("ontop-web.service")
    assert _values(unit, "Unit", "Requires") == ["ontop-release.service"]
    assert _values(unit, "Service", "ExecStartPre") == []
    release = _unit("ontop-release.service")
    assert release.get("Service", "RemainAfterExit") == "yes"


def test_each_gpu_worker_is_pinned_to_its_own_gpu():
    unit = _unit("ontop-gpu@.service")
    assert _values(unit, "Service", "Environment") == ["CUDA_VISIBLE_DEVICES=%i"]
    assert _values(unit, "Service", "EnvironmentFile") == [ENV_FILE, "-/etc/ontop/gpu-%i.env"]


def _commands() -> list[list[str]]:
    lines = [line for commands in SERVICES.values() for line in commands]
    return [shlex.split(line) for line in lines]


@pytest.mark.parametrize("argv", _commands(), ids=lambda argv: " ".join(argv[1:4]))
def test_every_command_in_the_units_exists_with_these_arguments(argv):
    assert argv[0] == PYTHON
    if argv[1] == "-m":
        module, args = argv[2], [a.replace("%i", "0") for a in argv[3:]]
        assert module in ("ontop.webserver", "gpu_worker")
        assert importlib.util.find_spec(module) is not None
        # The module's own parser accepts the arguments (--help after them: parse, print, exit 0).
        done = subprocess.run(
            [sys.executable, "-m", module, *args, "--help"], cwd=BASE_DIR, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith(f"usage: python -m {module}")
    else:
        assert argv[1] == "manage.py"
        name, args = argv[2], argv[3:]
        app = get_commands()[name]
        parsed = load_command_class(app, name).create_parser("manage.py", name).parse_args(args)
        if name == "rqworker":
            assert parsed.args == ["urgent", "default"]
            assert parsed.with_scheduler is True
            # Every job OnTop enqueues is JSON; django_rq's default serializer is pickle.
            assert parsed.serializer == "rq.serializers.JSONSerializer"
        if name in ("migrate", "collectstatic"):
            assert parsed.interactive is False


def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify` on the units as installed here (paths pointed at this checkout)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    for path in UNITS.iterdir():
        text = path.read_text().replace(PYTHON, sys.executable).replace(CHECKOUT, str(BASE_DIR))
        (tmp_path / path.name.replace("@.", "@0.")).write_text(text)
    done = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())], capture_output=True, text=True, timeout=60
    )
    # systemd < 254 does not know the backoff keys and says it ignores them; nothing else may be said.
    problems = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and not re.search(r"Unknown key '(RestartSteps|RestartMaxDelaySec)'", line)
    ]
    assert problems == []
    assert done.returncode == 0


# --- /api/docs/ and /api/schema/: public or staff-only ----------------------------------------------

PROBE = """
import django, json, sys
django.setup()
from django.test import Client
client = Client(HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({path: client.get(path).status_code for path in sys.argv[1:]}))
"""


def _anonymous_statuses(paths: list[str], **env: str) -> dict[str, int]:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ONTOP_API_DOCS_PUBLIC")}
    base.update(DJANGO_SETTINGS_MODULE="ontop.settings", **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *paths], cwd=BASE_DIR, env=base, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "p" + secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "testserver",
    "BEHIND_TLS_PROXY": "true",
}


# Production here has no collected static files, and the docs page links Swagger UI's: the started
# server below checks /api/docs/ in production, for staff and with ONTOP_API_DOCS_PUBLIC=true.
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "true"}, {"/api/schema/": 200, "/api/docs/": 200}),  # development: public
        ({"DEBUG": "true", "ONTOP_API_DOCS_PUBLIC": "false"}, {"/api/schema/": 401, "/api/docs/": 401}),
        (PRODUCTION_ENV, {"/api/schema/": 401, "/api/docs/": 401}),  # production: staff only
        ({**PRODUCTION_ENV, "ONTOP_API_DOCS_PUBLIC": "true"}, {"/api/schema/": 200}),
    ],
    ids=["dev-default", "dev-private", "production-default", "production-public"],
)
def test_api_docs_are_public_only_where_the_setting_says(env, expected):
    assert _anonymous_statuses(list(expected), **env) == expected


# --- the policy's image sources follow the storage ---------------------------------------------------

POLICY_PROBE = """
import django, json
django.setup()
from django.conf import settings
print(json.dumps(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"]))
"""


def _img_src(**env: str) -> list[str] | str:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "ONTOP_CSP_"))}
    base.update(DJANGO_SETTINGS_MODULE="ontop.settings", DEBUG="true", **env)
    done = subprocess.run(
        [sys.executable, "-c", POLICY_PROBE], cwd=BASE_DIR, env=base, capture_output=True, text=True, timeout=120
    )
    if done.returncode:
        return done.stderr.strip().splitlines()[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_images_may_come_from_the_s3_bucket_when_media_live_there():
    naver = ["https://*.pstatic.net", "https://*.naver.net", "https://*.naver.com"]
    assert _img_src() == ["'self'", "blob:", *naver]
    assert _img_src(S3_BUCKET="ontop-media", S3_REGION="ap-northeast-2") == [
        "'self'",
        "blob:",
        *naver,
        "https://ontop-media.s3.amazonaws.com",
        "https://ontop-media.s3.ap-northeast-2.amazonaws.com",
    ]
    assert _img_src(S3_BUCKET="media", S3_ENDPOINT_URL="https://minio.internal:9000") == [
        "'self'",
        "blob:",
        *naver,
        "https://minio.internal:9000",
        "https://*.minio.internal:9000",
    ]
    assert _img_src(ONTOP_CSP_IMG_SRC="https://cdn.ontop.example") == [
        "'self'",
        "blob:",
        *naver,
        "https://cdn.ontop.example",
    ]
    assert _img_src(ONTOP_CSP_IMG_SRC="https://cdn.ontop.example; script-src *") == (
        "django.core.exceptions.ImproperlyConfigured: ONTOP_CSP_IMG_SRC takes https:// origins "
        "(https://cdn.example), not 'https://cdn.ontop.example; script-src *'."
    )


@pytest.mark.django_db
def test_every_response_carries_the_policy(client):
    """Pages, API answers, static files, redirects and errors alike (in DEBUG, django-csp leaves
    Django's own 404/500 debug pages alone; the production server below checks those too)."""
    for path in ("/", "/accounts/login/", "/api/me/", "/static/js/site.js", "/makeovers/new/", "/healthz/"):
        response = client.get(path)
        assert policy_of(response["Content-Security-Policy"]) == POLICY, path


def test_only_the_staff_rq_dashboard_may_run_inline_scripts(client, django_user_model):
    """django-rq's dashboard needs its inline scripts (bulk actions); no other page gets them."""
    staff = django_user_model.objects.create_user("ops", password="x-" * 8, is_staff=True, is_superuser=True)
    client.force_login(staff)
    dashboard = client.get("/admin/django-rq/")
    assert dashboard.status_code == 200
    assert policy_of(dashboard["Content-Security-Policy"]) == {**POLICY, "script-src": ["'self'", "'unsafe-inline'"]}
    assert policy_of(client.get("/admin/")["Content-Security-Policy"]) == POLICY


# --- a production start from a clean checkout ----------------------------------------------------------


def _scratch_database(tmp_name: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on the suite's PostgreSQL server, and how to drop it again."""
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    admin_url = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{tmp_name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{tmp_name}" WITH (FORCE)')

    return urlunsplit(url._replace(path=f"/{tmp_name}")), drop


def _clean_checkout(target: Path) -> None:
    """What `git clone` of this work tree gives: tracked and untracked-but-not-ignored files only
    (no var/, no staticfiles, no .venv)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=BASE_DIR, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = BASE_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _request(port: int, path: str, *, method="GET", body=None, headers=None, https=True):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Host": "ontop.test", **({"X-Forwarded-Proto": "https"} if https else {}), **(headers or {})}
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _unit_argv(line: str, port: int) -> list[str]:
    argv = shlex.split(line)
    assert argv[0] == PYTHON
    return [sys.executable, *(a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in argv[1:])]


def _start_web(checkout: Path, env: dict[str, str], port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        _unit_argv(_unit("ontop-web.service").get("Service", "ExecStart"), port),
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_healthy(web: subprocess.Popen, port: int, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _request(port, "/healthz/")[0] == 200:
                return
        except OSError:
            pass
        assert web.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _stop(web: subprocess.Popen | None) -> None:
    if web is not None and web.poll() is None:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(60)


@pytest.mark.slow
def test_a_clean_checkout_starts_in_production_mode_as_the_units_start_it(tmp_path):
    checkout, state = tmp_path / "ontop", tmp_path / "state"
    checkout.mkdir()
    _clean_checkout(checkout)
    assert not (checkout / "var").exists()
    database_url, drop_database = _scratch_database(f"ontop_prod_{secrets.token_hex(4)}")
    redis = urlsplit(os.environ["REDIS_URL"])
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ONTOP_", "DATABASE_", "REDIS_", "MEDIA_", "S3_", "DJANGO_")) and k != "DEBUG"
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="ontop.test",
        CSRF_TRUSTED_ORIGINS="https://ontop.test",
        BEHIND_TLS_PROXY="true",
        DATABASE_URL=database_url,
        REDIS_URL=urlunsplit(redis._replace(path="/13")),  # its own Redis database: other tests flush 0
        ONTOP_VAR_DIR=str(state),
        MEDIA_ROOT=str(state / "media"),
        PYTHONUNBUFFERED="1",
    )
    web = None
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 - closed below
    try:
        # What systemd runs: the release oneshot (migrate, collectstatic), then the web.
        started = time.monotonic()
        for line in _values(_unit("ontop-release.service"), "Service", "ExecStart"):
            done = subprocess.run(
                _unit_argv(line, port), cwd=checkout, env=env, capture_output=True, text=True, timeout=540
            )
            assert done.returncode == 0, (line, done.stderr[-3000:])
            print(f"{line}: done at {time.monotonic() - started:.1f} s")
        assert (state / "staticfiles" / "staticfiles.json").is_file()
        web = _start_web(checkout, env, port, log)
        _wait_healthy(web, port, tmp_path / "web.log")
        print(f"production start (release and web ready): {time.monotonic() - started:.1f} s")

        # Plain http is sent to https; behind the TLS proxy every page answers.
        status, headers, _ = _request(port, "/shop/", https=False)
        assert (status, headers["location"]) == (301, "https://ontop.test/shop/")
        pages = {}
        for path in ("/", "/accounts/login/", "/accounts/signup/", "/shop/", "/healthz/"):
            status, headers, body = _request(port, path)
            assert status == 200, (path, body[:2000])
            assert policy_of(headers["content-security-policy"]) == POLICY, path
            pages[path] = body.decode()

        # Static files under their hashed names, cached for a year, compressed.
        css = re.search(r'href="(/static/css/ontop\.[0-9a-f]{12}\.css)"', pages["/"])
        script = re.search(r'src="(/static/js/site\.[0-9a-f]{12}\.js)"', pages["/"])
        assert css, pages["/"][:2000]
        assert script, pages["/"][:2000]
        for asset in (css.group(1), script.group(1)):
            status, headers, body = _request(port, asset, headers={"Accept-Encoding": "gzip"})
            assert status == 200
            assert headers["cache-control"] == "max-age=315360000, public, immutable"
            assert headers["content-encoding"] == "gzip"
            assert policy_of(headers["content-security-policy"]) == POLICY

        # A page that does not exist is the site's 404, with the policy too.
        status, headers, _ = _request(port, "/no-such-page/")
        assert status == 404
        assert policy_of(headers["content-security-policy"]) == POLICY

        # /api/docs/ and /api/schema/: staff only in production (anonymous: 401), staff get both.
        assert _request(port, "/api/schema/")[0] == 401
        assert _request(port, "/api/docs/")[0] == 401
        created = subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--no-input", "--username", "ops", "--email", "o@x.io"],
            cwd=checkout,
            env={**env, "DJANGO_SUPERUSER_PASSWORD": "staff-only-docs-42"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr[-2000:]
        status, _, body = _request(
            port,
            "/api/auth/token/",
            method="POST",
            body=json.dumps({"username": "ops", "password": "staff-only-docs-42"}),
            headers={"Content-Type": "application/json"},
        )
        assert status == 200, body
        staff = {"Authorization": f"Token {json.loads(body)['token']}"}
        status, headers, body = _request(port, "/api/schema/", headers=staff)
        assert (status, headers["content-type"]) == (200, "application/vnd.oai.openapi; charset=utf-8")
        assert body.startswith(b"openapi: 3.")
        status, headers, body = _request(port, "/api/docs/", headers=staff)
        assert status == 200
        assert b'<script src="/api/docs/?script="></script>' in body
        assert b"<style>" not in body
        assert policy_of(headers["content-security-policy"]) == {**POLICY, "img-src": [*POLICY["img-src"], "data:"]}
        status, headers, body = _request(port, "/api/docs/?script=", headers=staff)
        assert (status, headers["content-type"]) == (200, "application/javascript")
        assert b"SwaggerUIBundle(" in body

        # ONTOP_API_DOCS_PUBLIC=true: the same server shows both to anyone.
        _stop(web)
        web = _start_web(checkout, {**env, "ONTOP_API_DOCS_PUBLIC": "true"}, port, log)
        _wait_healthy(web, port, tmp_path / "web.log")
        assert _request(port, "/api/schema/")[0] == 200
        status, _, body = _request(port, "/api/docs/")
        assert status == 200
        assert b'<script src="/api/docs/?script="></script>' in body
    finally:
        _stop(web)
        log.close()
        drop_database()
