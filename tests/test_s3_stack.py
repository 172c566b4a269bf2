"""The whole product on S3: `make run`'s processes (web, Django worker, GPU workers) with their files
in a real S3 server (SeaweedFS, tests/s3_server.py) and no media directory at all.

A desk makeover and a diary picture are made through the API; their pictures are private objects,
served by a redirect to a signed URL that works and then really expires, and deleting the makeover
or the diary entry removes every object it had from the bucket.
"""

from __future__ import annotations

import datetime
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from email.message import Message
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
from PIL import Image

from ontop.devstack import free_port
from tests.photos import make_desk_photo
from tests.s3_server import S3Server
from tests.stack import Stack
from tests.test_devstack import _multipart

pytestmark = pytest.mark.slow

# Short, so the test can wait it out; long enough that the first fetch of a freshly signed URL is in
# time on a busy 2-core machine (that fetch follows the redirect at once).
URL_EXPIRY_SECONDS = 10
JOB_TIMEOUT_SECONDS = 360


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the test reads the redirect itself


_opener = urllib.request.build_opener(_NoRedirect)


def _call(url: str, *, method: str = "GET", token: str | None = None) -> tuple[int, Message, bytes]:
    """One request, redirects not followed: (status, headers (any case), body)."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def s3_stack(s3_server: S3Server, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("s3-stack")
    stack = Stack(
        var_dir,
        port=free_port(),
        pg_port=free_port(),
        redis_port=free_port(),
        ONTOP_GPU_STEPS="6",
        ONTOP_S3_URL_EXPIRY_SECONDS=str(URL_EXPIRY_SECONDS),
        ONTOP_GPU_MEDIA_ROOT="",  # no shared directory: the GPU workers have the bucket only
        **s3_server.env(),
    )
    try:
        stack.wait_ready()
        status, body = stack.json(
            "/api/auth/signup/", {"username": "bucket", "email": "bucket@example.com", "password": "walnut-desk-lamp"}
        )
        assert status == 201, body
        stack.token = body["token"]
        yield stack
    finally:
        code = stack.stop()
    assert code == 0, stack.output()[-3000:]
    assert "Traceback" not in stack.output(), stack.output()[-3000:]
    media = var_dir / "media"
    assert [p for p in media.rglob("*") if p.is_file()] == [], "everything went to the bucket"


def _wait(stack: Stack, path: str, state_of) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    body: dict = {}
    while time.monotonic() < deadline:
        status, body = stack.json(path, token=stack.token)
        assert status == 200, body
        if state_of(body)["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(1)
    raise AssertionError(f"not finished after {JOB_TIMEOUT_SECONDS}s: {body}\n{stack.output()[-3000:]}")


def _signed_picture(stack: Stack, s3: S3Server, url: str) -> tuple[str, str, bytes]:
    """The picture view answers with a redirect to a signed URL of a private object; that URL works.
    Returns (signed URL, object key, bytes)."""
    status, headers, _ = _call(url, token=stack.token)
    assert status == 302, (url, status)
    location = headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == s3.endpoint_url
    assert parts.path.startswith(f"/{s3.bucket}/")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == [str(URL_EXPIRY_SECONDS)]
    key = unquote(parts.path.removeprefix(f"/{s3.bucket}/"))

    status, _, body = _call(location)
    assert status == 200, body[:300]
    assert body == s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    # Private: the same object without a signature is refused.
    unsigned_status, _, _ = _call(f"{s3.endpoint_url}/{s3.bucket}/{quote(key)}")
    assert unsigned_status == 403
    return location, key, body


def _expired(location: str) -> int:
    """Wait until the signed URL's lifetime is over (+2 s for clock rounding), then fetch it."""
    query = parse_qs(urlsplit(location).query)
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    ends = signed_at.timestamp() + int(query["X-Amz-Expires"][0]) + 2
    time.sleep(max(0.0, ends - time.time()))
    return _call(location)[0]


def test_a_makeover_on_s3_private_expiring_and_deleted_with_its_objects(s3_stack: Stack, s3_server: S3Server):
    stack, s3 = s3_stack, s3_server
    before = set(s3.keys())
    data, content_type = _multipart("photo", "desk.jpg", make_desk_photo())
    status, raw = stack.request(
        "/api/makeovers/", data=data, headers={"Content-Type": content_type, "Authorization": f"Token {stack.token}"}
    )
    assert status == 201, raw
    job_id = json.loads(raw)["id"]
    makeover = _wait(stack, f"/api/makeovers/{job_id}/", lambda body: body["state"])
    assert makeover["state"]["status"] == "succeeded", (makeover["state"], stack.output()[-3000:])

    made = set(s3.keys()) - before
    assert [k for k in made if k.startswith("uploads/")] != [], made  # the photo the GPU worker read
    assert [k for k in made if k.startswith("results/") and f"/{job_id}/" in k] != [], made

    result_url, result_key, body = _signed_picture(stack, s3, makeover["images"]["result"])
    assert result_key.startswith("results/")
    assert f"/{job_id}/" in result_key
    Image.open(io.BytesIO(body)).load()  # a whole picture
    _, input_key, _ = _signed_picture(stack, s3, makeover["images"]["input"])
    assert input_key.startswith("uploads/")
    _, thumb_key, thumb = _signed_picture(stack, s3, makeover["images"]["thumb"])  # made now, in the bucket
    job_prefix = result_key[: result_key.index(job_id) + len(job_id) + 1]
    assert thumb_key == f"{job_prefix}thumb.jpg"
    assert max(Image.open(io.BytesIO(thumb)).size) <= 480

    assert _expired(result_url) == 403, "a signed URL stops working after ONTOP_S3_URL_EXPIRY_SECONDS"
    status, headers, _ = _call(stack.base + urlsplit(makeover["images"]["result"]).path, token=stack.token)
    assert status == 302
    assert _call(headers["Location"])[0] == 200, "the view signs a fresh one"

    status, _, body = _call(f"{stack.base}/api/makeovers/{job_id}/", method="DELETE", token=stack.token)
    assert status == 204, body
    left = set(s3.keys()) - before
    assert [k for k in left if not k.startswith("cache/perception/")] == [], "photo, result, mask, thumbnail"
    # The perception cache (detections and masks of the photo) must go with the photo, too.
    assert left == set(), "perception cache entries outlive the deleted photo"
    assert _call(stack.base + urlsplit(makeover["images"]["result"]).path, token=stack.token)[0] == 404


def test_a_diary_picture_on_s3_private_and_deleted_with_its_entry(s3_stack: Stack, s3_server: S3Server):
    stack, s3 = s3_stack, s3_server
    before = set(s3.keys())
    status, entry = stack.json(
        "/api/diary/entries/",
        {
            "text": "오늘은 친구들과 한강에서 치킨을 먹었다. 바람이 시원했다.",
            "mood": "happy",
            "submission_id": str(uuid.uuid4()),
        },
        token=stack.token,
    )
    assert status == 201, entry
    job_id = entry["latest"]["id"]
    entry = _wait(stack, f"/api/diary/entries/{entry['id']}/", lambda body: body["latest"]["state"])
    picture = entry["picture"]
    assert picture is not None, (entry["latest"]["state"], stack.output()[-3000:])
    assert picture["id"] == job_id

    _, result_key, body = _signed_picture(stack, s3, picture["result_url"])
    assert result_key.startswith("results/")
    assert f"/{job_id}/" in result_key
    width, height = Image.open(io.BytesIO(body)).size
    assert width > height, "landscape, the default"
    _signed_picture(stack, s3, picture["thumb_url"])
    made = set(s3.keys()) - before
    assert made != set()
    assert [key for key in made if f"/{job_id}/" not in key] == [], "all under the picture's job"

    status, _, body = _call(f"{stack.base}/api/diary/entries/{entry['id']}/", method="DELETE", token=stack.token)
    assert status == 204, body
    assert set(s3.keys()) == before, "every picture's objects went with the entry"
