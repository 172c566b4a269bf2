"""The one command that runs OnTop's web tier, shared by `make run`, the production units and the tests.

`python -m ontop.webserver --bind HOST:PORT` execs it, so every place that starts the web process
starts the same server with the same settings.

gunicorn supervises ONTOP_WEB_WORKERS (2) uvicorn worker processes running `ontop.asgi`: progress
streams are served asynchronously there, and every other request goes to Django in a pool of
ONTOP_WEB_THREADS (4) threads per process, as gunicorn's gthread workers did before.
"""

from __future__ import annotations

import argparse
import os
import sys


def web_command(host: str, port: int, *, workers: int | None = None) -> list[str]:
    """argv of the web server listening on host:port."""
    from ontop.env import env_int

    workers = workers or env_int("ONTOP_WEB_WORKERS", 2, minimum=1, maximum=64)
    web = [sys.executable, "-m", "gunicorn", "ontop.asgi:application", "--bind", f"{host}:{port}"]
    web += ["--worker-class", "uvicorn_worker.UvicornWorker", "--workers", str(workers)]
    # Open progress streams end by themselves on shutdown (ontop/events/stream.py); 20 s is
    # for the slowest ordinary request to finish.
    web += ["--timeout", "60", "--graceful-timeout", "20", "--access-logfile", "-"]
    return web


def _parse_bind(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--bind wants HOST:PORT, got {value!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ontop.webserver", description=__doc__)
    parser.add_argument(
        "--bind", type=_parse_bind, default=("127.0.0.1", 8000), help="HOST:PORT (default 127.0.0.1:8000)"
    )
    args = parser.parse_args(argv)
    host, port = args.bind
    command = web_command(host, port)
    # exec, not a child: the process manager's signals reach the server directly.
    os.execv(command[0], command)  # noqa: S606 - our own argv, no shell


if __name__ == "__main__":
    main()
