"""Hostile and odd input: a clear 4xx with a code, never a 500, never a half-written row or file."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from generation.models import GenerationJob, Upload
from ontop.accounts.services import api_token_issue
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, user):
    cache.clear()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    return client


def _upload(api, data: bytes):
    return api.post("/api/uploads/", {"photo": io.BytesIO(data)})


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares absurd dimensions: must be refused before any pixel is decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def _image(mode: str, fmt: str, **save) -> bytes:
    base = Image.open(io.BytesIO(make_desk_photo((160, 120))))
    image = (
        base.convert(mode)
        if mode not in ("I;16", "P")
        else (base.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else base.convert("L").convert("I;16"))
    )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (make_desk_photo() + b"PK\x03\x04" + b"\0" * 4096, "not_an_image"),  # JPEG + ZIP polyglot
        (make_desk_photo(fmt="PNG") + b"<script>alert(1)</script>" * 10, "not_an_image"),  # PNG + HTML
        (b"GIF89a" + b"\0" * 200, "not_an_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not_an_image"),
        (_png_header_only(100_000, 100_000), "too_many_pixels"),  # decompression bomb, never decoded
        (_png_header_only(30_000, 10), "too_many_pixels"),  # absurd side
        (_image("RGB", "JPEG")[:-400], "not_an_image"),  # truncated
    ],
)
def test_hostile_uploads_are_refused(api, data, code):
    response = _upload(api, data)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert not Upload.objects.exists()


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (_image("CMYK", "JPEG"), "cmyk"),
        (_image("I;16", "PNG"), "16-bit"),
        (_image("P", "PNG"), "palette"),
        (_image("RGBA", "PNG"), "alpha"),
        (_image("LA", "PNG"), "grey+alpha"),
        (_image("RGBA", "WEBP", lossless=True), "webp alpha"),
    ],
)
def test_unusual_but_valid_photos_are_stored_as_plain_rgb_jpeg(api, data, label):
    response = _upload(api, data)
    assert response.status_code == 201, (label, response.content)
    stored = Image.open(default_storage.open(Upload.objects.get().image.name))
    assert (stored.format, stored.mode, stored.size) == ("JPEG", "RGB", (160, 120))


def test_animated_images_keep_their_first_frame(api):
    frames = [Image.new("RGB", (120, 90), colour) for colour in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    response = _upload(api, buffer.getvalue())
    assert response.status_code == 201
    stored = Image.open(default_storage.open(Upload.objects.get().image.name)).convert("RGB")
    red, green, _ = stored.getpixel((60, 45))
    assert red > 150 > green, "the first frame"


def test_gps_is_removed_from_everything_stored(api):
    response = _upload(api, make_desk_photo(exif_orientation=1))
    assert response.status_code == 201
    raw = default_storage.open(Upload.objects.get().image.name).read()
    assert b"Exif" not in raw
    assert not Image.open(io.BytesIO(raw)).getexif()


# ---- API payloads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ('{"upload_id": ', "application/json", "parse_error"),
        ('{"upload_id": "x", "colour": "red"}', "application/json", "invalid"),
        ('{"upload_id": 12345}', "application/json", "invalid"),
        ('{"upload_id": "' + "a" * 100_000 + '"}', "application/json", "invalid"),
        (
            '{"upload_id": "8f0b5a4e-3b5b-4a8e-9f3e-2b1f4a1c0d11", "preferences": {"budget_max": 1e30}}',
            "application/json",
            "invalid",
        ),
        (
            '{"upload_id": "8f0b5a4e-3b5b-4a8e-9f3e-2b1f4a1c0d11", "preferences": {"tone": "warm", "x": 1}}',
            "application/json",
            "invalid",
        ),
        ("[1, 2, 3]", "application/json", "invalid"),
        ("upload_id=1", "text/plain", "unsupported_media_type"),
    ],
)
def test_malformed_api_payloads_are_400_with_a_code(api, body, content_type, code):
    response = api.post("/api/makeovers/", body, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["code"] == code
    assert not GenerationJob.objects.exists()


def test_unknown_fields_are_refused_by_name(api):
    response = api.post(
        "/api/auth/token/", {"username": "a", "password": "b", "admin": True}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "admin" in response.json()["message"]


def test_login_brute_force_is_throttled_and_locked(client, user):
    cache.clear()
    statuses = []
    for _ in range(7):
        response = client.post(
            "/api/auth/token/", {"username": "mina", "password": "wrong"}, content_type="application/json"
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429, 429]
    locked = client.post(
        "/api/auth/token/", {"username": "mina", "password": "correct-horse-battery"}, content_type="application/json"
    )
    assert locked.status_code == 429, "even the right password waits out the lock"
    assert locked.json()["code"] == "login_locked"
    assert int(locked["Retry-After"]) > 0

    page = client.post("/accounts/login/", {"username": "mina", "password": "correct-horse-battery"})
    assert page.status_code == 200
    assert "Too many failed attempts" in page.content.decode()
    cache.clear()


def test_api_rate_limit_answers_429_with_retry_after(client, user):
    cache.clear()
    for _ in range(10):
        client.post("/api/auth/token/", {"username": f"nobody{_}", "password": "x"}, content_type="application/json")
    limited = client.post("/api/auth/token/", {"username": "nobody", "password": "x"}, content_type="application/json")
    assert limited.status_code == 429
    assert limited.json()["code"] == "throttled"
    assert int(limited["Retry-After"]) > 0
    cache.clear()


# ---- fuzzing ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=300),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(
    st.sampled_from(["upload_id", "style", "preferences", "submission_id", "photo", "tone", "budget_max"])
    | st.text(max_size=15),
    json_values,
    max_size=5,
)
ENDPOINTS = ["/api/makeovers/", "/api/auth/signup/", "/api/auth/token/", "/api/uploads/"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), payload=payloads | json_values)
def test_fuzzed_api_requests_never_cause_a_5xx(api, endpoint, payload):
    import json

    cache.clear()
    try:
        body = json.dumps(payload, allow_nan=True)
    except (ValueError, OverflowError):
        return
    response = api.post(endpoint, body, content_type="application/json")
    assert response.status_code < 500, (endpoint, payload, response.content[:300])
    assert "code" in response.json() or response.status_code < 300


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.dictionaries(
        st.sampled_from(["q", "category", "ordering", "page", "page_size", "x"]), st.text(max_size=50), max_size=4
    )
)
def test_fuzzed_shop_queries_never_cause_a_5xx(client, query):
    response = client.get("/api/shop/products/", query)
    assert response.status_code < 500, (query, response.content[:300])


# ---- 16-bit photos: scaled, never clipped -------------------------------------------------------

JPEG_TOLERANCE = 2  # a flat grey survives JPEG within a level; a gradient's edges move a little more


def _png_16_bit(width: int, height: int, colour_type: int, pixel) -> bytes:
    """A real 16-bit PNG, written byte by byte (Pillow cannot write 16-bit RGB): colour type 0 grey,
    2 RGB, 4 grey+alpha, 6 RGBA; `pixel(x, y)` gives the 16-bit samples."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    rows = b"".join(
        b"\0" + b"".join(struct.pack(">" + "H" * channels, *pixel(x, y)) for x in range(width)) for y in range(height)
    )
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _stored_pixels(api, data: bytes) -> Image.Image:
    response = _upload(api, data)
    assert response.status_code == 201, response.content
    stored = Image.open(default_storage.open(Upload.objects.get(pk=response.json()["id"]).image.name))
    assert (stored.format, stored.mode) == ("JPEG", "RGB")
    return stored


@pytest.mark.parametrize(
    ("colour_type", "samples", "expected"),
    [
        (0, (30000,), (117, 117, 117)),  # round(30000 / 257) = 117, not 255
        (0, (0,), (0, 0, 0)),
        (0, (65535,), (255, 255, 255)),
        (0, (257 * 40,), (40, 40, 40)),
        (4, (30000, 65535), (117, 117, 117)),
        (2, (30000, 60000, 1000), (117, 233, 4)),
        (6, (30000, 60000, 1000, 65535), (117, 233, 4)),
    ],
)
def test_a_solid_16_bit_photo_keeps_its_values(api, colour_type, samples, expected):
    stored = _stored_pixels(api, _png_16_bit(96, 80, colour_type, lambda x, y: samples))
    for point in ((0, 0), (48, 40), (95, 79)):
        actual = stored.getpixel(point)
        assert all(abs(a - e) <= JPEG_TOLERANCE for a, e in zip(actual, expected, strict=True)), (point, actual)


def test_a_16_bit_grey_gradient_stays_a_gradient(api):
    width = 256
    stored = _stored_pixels(api, _png_16_bit(width, 64, 0, lambda x, y: (x * 65535 // (width - 1),)))
    for x in (0, 16, 64, 128, 192, 240, 255):
        expected = round(x * 65535 // (width - 1) / 257)
        red, green, blue = stored.getpixel((x, 32))
        assert red == green == blue, "grey stays grey"
        assert abs(red - expected) <= JPEG_TOLERANCE + 1, (x, red, expected)
    row = [stored.getpixel((x, 32))[0] for x in range(0, width, 32)]
    assert row == sorted(row), row
    assert row[-1] - row[0] >= 220, row
