"""S3 storage against a real S3 server (SeaweedFS, started by tests/s3_server.py): the GPU tier's
S3Storage, and the web tier's django-storages settings."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from gpu_worker.config import WorkerConfig
from gpu_worker.storage import S3Storage, StorageKeyError, StorageMissing, storage_from_config
from tests.s3_server import S3Server
from tests.test_settings import _manage


@pytest.fixture
def s3_env(monkeypatch, s3_server: S3Server) -> S3Server:
    """Credentials reach boto3 the way a deployed worker's would: from the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    return s3_server


@pytest.fixture
def storage(s3_env: S3Server) -> S3Storage:
    return S3Storage(s3_env.bucket, s3_env.endpoint_url, s3_env.region)


@pytest.fixture
def prefix() -> str:
    return f"test-s3-storage/{uuid.uuid4().hex}/"


def test_write_read_exists_delete(storage: S3Storage, s3_server: S3Server, prefix: str):
    key = f"{prefix}results/out.png"
    assert storage.exists(key) is False

    storage.write(key, b"\x89PNG picture bytes", "image/png")

    assert storage.exists(key) is True
    assert storage.read(key) == b"\x89PNG picture bytes"
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentType"] == "image/png"
    assert s3_server.keys(prefix) == [key]

    storage.write(key, b"second", "image/png")  # overwrite in place, as LocalStorage does
    assert storage.read(key) == b"second"

    storage.delete(key)
    assert storage.exists(key) is False
    assert s3_server.keys(prefix) == []
    storage.delete(key)  # a missing key is not an error


def test_missing_key_is_storage_missing(storage: S3Storage, prefix: str):
    with pytest.raises(StorageMissing) as raised:
        storage.read(f"{prefix}nothing-here.jpg")
    assert str(raised.value) == f"{prefix}nothing-here.jpg"


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "uploads/../../secret", "..", "uploads\\x.jpg", "uploads/x\x00.jpg"]
)
def test_unsafe_keys_refused(storage: S3Storage, s3_server: S3Server, key: str):
    for call in (storage.read, storage.exists, storage.delete):
        with pytest.raises(StorageKeyError):
            call(key)
    with pytest.raises(StorageKeyError):
        storage.write(key, b"x", "image/png")


def test_objects_are_private(storage: S3Storage, s3_server: S3Server, prefix: str):
    key = f"{prefix}uploads/photo.jpg"
    storage.write(key, b"someone's photo", "image/jpeg")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{s3_server.endpoint_url}/{s3_server.bucket}/{key}", timeout=10)
    assert refused.value.code == 403
    with pytest.raises(ClientError) as anonymous:
        s3_server.client(signed=False).get_object(Bucket=s3_server.bucket, Key=key)
    assert anonymous.value.response["Error"]["Code"] == "AccessDenied"
    storage.delete(key)


def test_refused_credentials_are_not_missing(s3_server: S3Server, monkeypatch, prefix: str):
    """`exists` answers only "not found" with False: a refusal is an error, not a missing file."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = S3Storage(s3_server.bucket, s3_server.endpoint_url, s3_server.region)

    with pytest.raises(ClientError) as refused:
        wrong.exists(f"{prefix}photo.jpg")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as refused_read:
        wrong.read(f"{prefix}photo.jpg")
    assert refused_read.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_worker_config_selects_the_bucket(s3_env: S3Server, monkeypatch, prefix: str):
    """The worker's environment (no media root) gives an S3Storage on that bucket and region."""
    monkeypatch.setenv("ONTOP_GPU_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("ONTOP_GPU_MEDIA_ROOT", raising=False)
    monkeypatch.setenv("ONTOP_GPU_S3_BUCKET", s3_env.bucket)
    monkeypatch.setenv("ONTOP_GPU_S3_ENDPOINT_URL", s3_env.endpoint_url)
    monkeypatch.setenv("ONTOP_GPU_S3_REGION", "eu-west-2")
    config = WorkerConfig.from_env()

    storage = storage_from_config(config)

    assert isinstance(storage, S3Storage)
    assert (config.media_root, config.s3_region) == (None, "eu-west-2")
    assert (storage.bucket, storage.client.meta.region_name) == (s3_env.bucket, "eu-west-2")
    storage.write(f"{prefix}a.txt", b"via config", "text/plain")
    assert s3_env.client().get_object(Bucket=s3_env.bucket, Key=f"{prefix}a.txt")["Body"].read() == b"via config"
    storage.delete(f"{prefix}a.txt")


WEB_STORAGE_SCRIPT = """
import json
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
key = default_storage.save({key!r}, ContentFile(b"web bytes"))
print(json.dumps({{"key": key, "url": default_storage.url(key), "exists": default_storage.exists(key)}}))
"""


def test_web_tier_storage_is_the_private_bucket_with_short_signed_urls(s3_server: S3Server, prefix: str):
    """The web's django-storages settings (S3_BUCKET, ...): private objects, SigV4 URLs that live
    ONTOP_S3_URL_EXPIRY_SECONDS, path-style on our own endpoint."""
    env = {**s3_server.env(), "ONTOP_S3_URL_EXPIRY_SECONDS": "7"}
    done = _manage("shell", "-c", WEB_STORAGE_SCRIPT.format(key=f"{prefix}uploads/photo.jpg"), **env)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads(done.stdout.strip().splitlines()[-1])
    assert (saved["key"], saved["exists"]) == (f"{prefix}uploads/photo.jpg", True)
    url = urlsplit(saved["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{s3_server.endpoint_url}/{s3_server.bucket}/{saved['key']}"
    query = parse_qs(url.query)
    assert (query["X-Amz-Algorithm"], query["X-Amz-Expires"]) == (["AWS4-HMAC-SHA256"], ["7"])

    with urllib.request.urlopen(saved["url"], timeout=10) as response:
        assert response.read() == b"web bytes"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url.scheme}://{url.netloc}{url.path}", timeout=10)
    assert refused.value.code == 403
    s3_server.client().delete_object(Bucket=s3_server.bucket, Key=saved["key"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "ONTOP_S3_URL_EXPIRY_SECONDS must be at least 1, got 0."),
        ("604801", "ONTOP_S3_URL_EXPIRY_SECONDS must be at most 604800, got 604801."),
        ("soon", "ONTOP_S3_URL_EXPIRY_SECONDS must be an integer, got 'soon'."),
    ],
)
def test_bad_url_expiry_is_one_clear_line(value: str, message: str):
    done = _manage("check", ONTOP_S3_URL_EXPIRY_SECONDS=value)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.startswith("OnTop configuration error:")
