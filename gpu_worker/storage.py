"""Object storage for the GPU tier: the same directory or bucket Django's media uses.

Keys are relative paths like `uploads/7/ab12.jpg`; they are checked so a key from a job
spec can never reach outside the media root.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

from gpu_worker.config import WorkerConfig

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


class StorageKeyError(ValueError):
    pass


class StorageMissing(FileNotFoundError):
    pass


def check_key(key: str) -> str:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key or "\x00" in key:
        raise StorageKeyError(f"unsafe storage key {key!r}")
    return key


class Storage(Protocol):
    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes, content_type: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...  # a missing key is not an error


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageMissing(key) from None

    def write(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """A bucket on S3 or an S3-compatible server (SeaweedFS, MinIO, ...), shared with the web tier.

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile,
    an instance role), as they do for django-storages on the web side.
    """

    def __init__(self, bucket: str, endpoint_url: str | None, region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        # A server of our own is reached by address (http://10.0.0.2:8333) and has no per-bucket host
        # names, so path-style; AWS itself keeps botocore's choice.
        addressing = {"addressing_style": "path"} if endpoint_url else {}
        # A session of its own: boto3's default one is shared module state (not thread-safe, and it
        # keeps the first credentials it found for every later client).
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(s3=addressing, retries={"mode": "standard", "max_attempts": 3}),
        )

    def read(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"].read()
        except self.client.exceptions.ClientError as error:
            if _is_missing(error):
                raise StorageMissing(key) from None
            raise

    def write(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except self.client.exceptions.ClientError as error:
            # Only "not found" is an answer; refused credentials or a server error must not read as
            # "missing" (a worker would then redo or skip work it should report).
            if _is_missing(error):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))


def _is_missing(error: ClientError) -> bool:
    # HEAD has no body, so its 404 carries the status code only ("404"); GET says NoSuchKey.
    code = error.response.get("Error", {}).get("Code")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NoSuchKey", "NotFound", "404") or (status == 404 and code != "NoSuchBucket")


def storage_from_config(config: WorkerConfig) -> Storage:
    if config.s3_bucket:
        return S3Storage(config.s3_bucket, config.s3_endpoint_url, config.s3_region)
    assert config.media_root is not None
    return LocalStorage(config.media_root)
