"""The load benchmark: N signed-in people at once, against the web tier as it is now (push: SSE
streams from the async server) and as it was (poll: gunicorn gthread, job.js polling each second),
in the same run, on the same seeded database and Redis, one design after the other.

    .venv/bin/python tools/loadtest/run.py --users 500 --duration 120 --rounds 1

For each run it prints (and writes to OUT/summary.md) p50/p95/p99 and errors per request kind, the
progress events' publish → seen latency, and the CPU seconds the web tier used. Everything runs
on this machine: embedded PostgreSQL and Redis (ontop.devstack), the web server, the progress
driver (tools/loadtest/driver.py) and locust share its cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))

from ontop.devstack import _port_open, free_port, services, stack_environment  # noqa: E402
from ontop.webserver import web_command  # noqa: E402

HERE = Path(__file__).resolve().parent


def legacy_web_command(host: str, port: int) -> list[str]:
    """The web process before progress was pushed: gunicorn gthread, 2 workers × 4 threads."""
    web = [sys.executable, "-m", "gunicorn", "ontop.wsgi", "--bind", f"{host}:{port}"]
    return [*web, "--workers", "2", "--threads", "4", "--timeout", "60", "--access-logfile", "-"]


def _run(args: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=BASE_DIR, check=True, **kwargs)


def _cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for child in children for p in _tree(int(child)))]


def one_run(design: str, args, env: dict, people: Path, out: Path, label: str) -> dict:
    port = free_port()
    command = web_command("127.0.0.1", port) if design == "push" else legacy_web_command("127.0.0.1", port)
    log = (out / f"{label}-web.log").open("wb")
    server = subprocess.Popen(
        command, env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    driver = None
    try:
        deadline = time.monotonic() + 60
        while not _port_open(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {design} web server did not start: see {log.name}")
            time.sleep(0.2)
        _warm_up(port, people)
        ramp = args.users / args.spawn_rate
        driver = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "driver.py"),
                str(people),
                str(args.progress_every),
                str(args.duration + ramp + 15),
            ],
            env=env,
            cwd=BASE_DIR,
        )
        pids = _tree(server.pid)
        cpu_before = _cpu_seconds(pids)
        started = time.monotonic()
        locust = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless"]
        locust += ["-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{int(args.duration + ramp)}s"]
        locust += ["--host", f"http://127.0.0.1:{port}", "--csv", str(out / label), "--reset-stats", "--only-summary"]
        locust += ["--stop-timeout", "5", "--loglevel", "WARNING"]
        scenario = {"LOADTEST_DESIGN": design, "LOADTEST_PEOPLE": str(people), "LOADTEST_SCENARIO": args.scenario}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        _run(locust, {**env, **scenario}, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        locust_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        pids = _tree(server.pid)
        cpu = _cpu_seconds(pids) - cpu_before
        wall = time.monotonic() - started
    finally:
        if driver is not None:
            driver.terminate()
            driver.wait(30)
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()
    stats = _stats(out / f"{label}_stats.csv")
    return {"design": design, "label": label, "stats": stats, "cpu": cpu, "wall": wall, "locust_cpu": locust_cpu}


def _warm_up(port: int, people: Path) -> None:
    """Every page kind a few times from a few threads first: both designs start measuring with their
    workers' imports, translation catalogues and database connections in place."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    base = f"http://127.0.0.1:{port}"
    crowd = [json.loads(line) for line in people.read_text().splitlines()[:16]]

    def visit(person: dict) -> None:
        cookies = {"sessionid": person["session"]}
        with httpx.Client(base_url=base, cookies=cookies, headers={"Accept-Language": "ko"}, timeout=60) as client:
            for _ in range(3):
                for path in ("/makeovers/", f"/makeovers/{person['job']}/", "/api/makeovers/", "/shop/"):
                    client.get(path)
                client.get(f"/jobs/{person['job']}/status/")
                with client.stream("GET", f"/api/jobs/{person['job']}/events/") as response:
                    next(response.iter_lines(), None)

    time.sleep(2)  # its workers booted
    with ThreadPoolExecutor(len(crowd)) as pool:
        list(pool.map(visit, crowd))


def _stats(path: Path) -> list[dict]:
    with path.open() as handle:
        return [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]


def _table(results: list[dict]) -> str:
    lines = [
        "| run | request | count | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for row in sorted(result["stats"], key=lambda r: r["Name"]):
            lines.append(
                f"| {result['label']} | {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
                f"{row['50%']} | {row['95%']} | {row['99%']} | {float(row['Max Response Time']):.0f} |"
            )
    lines.append("")
    lines.append("| run | web tier CPU seconds | wall seconds | web tier cores used | locust CPU seconds |")
    lines.append("| --- | ---: | ---: | ---: | ---: |")
    for result in results:
        lines.append(
            f"| {result['label']} | {result['cpu']:.0f} | {result['wall']:.0f} | "
            f"{result['cpu'] / result['wall']:.2f} | {result['locust_cpu']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--spawn-rate", type=float, default=25.0, help="people started per second")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds measured, after the ramp-up")
    parser.add_argument("--rounds", type=int, default=1, help="push then poll, this many times")
    parser.add_argument("--designs", default="push,poll")
    parser.add_argument("--scenario", choices=["full", "watch"], default="full", help="watch: no page views")
    parser.add_argument("--progress-every", type=float, default=2.0, help="seconds between a job's progress reports")
    parser.add_argument("--out", type=Path, default=BASE_DIR / "var" / "loadtest")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ontop-loadtest-"))
    results = []
    try:
        with services(var_dir=scratch, pg_port=free_port(), redis_port=free_port()) as urls:
            env = {**stack_environment(urls, scratch), "DEBUG": "true"}
            _run([sys.executable, "manage.py", "migrate", "--no-input"], env, stdout=subprocess.DEVNULL)
            _run([sys.executable, "manage.py", "load_demo_data"], env, stdout=subprocess.DEVNULL)
            started = time.monotonic()
            people = args.out / "people.jsonl"
            with people.open("w") as handle:
                _run([sys.executable, str(HERE / "seed.py"), str(args.users)], env, stdout=handle)
            print(f"seeded {args.users} people in {time.monotonic() - started:.1f} s")
            for round_number in range(1, args.rounds + 1):
                for design in args.designs.split(","):
                    label = f"{design}-{args.scenario}-{round_number}"
                    print(f"running {label} ...", flush=True)
                    results.append(one_run(design, args, env, people, args.out, label))
                    print(_table(results[-1:]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = _table(results)
    (args.out / "summary.md").write_text(summary + "\n")
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
