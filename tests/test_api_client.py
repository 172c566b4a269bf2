"""The mobile API through a client generated from our OpenAPI schema, as an app developer would use it.

`openapi-python-client` (a maintained generator) writes a typed Python client from the schema that
`manage.py spectacular` produces; the test imports it and drives the main flows against the real
site (a live server on the test database), with the real GPU worker process in between: log in,
upload, create, poll, fetch the images, list the history, the shop, and the error paths. The client
parses every body by its documented status code, and raises on an undocumented one, so a schema
that lies fails here.
"""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image

from generation import selectors as job_selectors
from generation.models import GenerationJob, Style
from shop.services import catalog_load_demo
from tests.conftest import BASE_DIR, run_django_worker_burst, run_gpu_worker_burst
from tests.photos import make_desk_photo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def ontop_client(tmp_path_factory):
    """The generated client package, imported (generated once per run from the current schema)."""
    out = tmp_path_factory.mktemp("generated")
    schema = out / "schema.yml"
    made = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(schema)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    config = out / "config.yml"
    # Images come back as files: the generator reads only the content types it knows, so a client maps
    # image/* to binary, as an app developer would.
    config.write_text(
        "post_hooks: []\npackage_name_override: ontop_client\nproject_name_override: ontop_client\n"
        "content_type_overrides:\n  image/*: application/octet-stream\n"
    )
    generator = Path(sys.executable).parent / "openapi-python-client"
    generated = subprocess.run(
        [
            *(str(generator), "generate", "--path", str(schema), "--output-path", str(out / "ontop_client")),
            *("--meta", "none", "--config", str(config)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("ontop_client")
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == "ontop_client" or n.startswith("ontop_client.")]:
            del sys.modules[name]


def _module(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.fixture
def site(live_server, user, redis_clean):
    catalog_load_demo()
    Style.objects.create(slug="cozy", name_en="Cozy", name_ko="코지", prompt_addition="warm wood", scopes=[])
    return live_server.url


def _login(ontop_client, site: str, device: str, password: str = PASSWORD):
    client = ontop_client.Client(base_url=site, raise_on_unexpected_status=True)
    login = _module(ontop_client, "api.auth.auth_token_create")
    models = _module(ontop_client, "models")
    body = models.LoginInputRequest(username="mina", password=password, device_name=device)
    return login.sync_detailed(client=client, body=body)


def _authenticated(ontop_client, site: str, token: str, language: str = "en"):
    return ontop_client.AuthenticatedClient(
        base_url=site,
        token=token,
        prefix="Token",
        headers={"Accept-Language": language},
        raise_on_unexpected_status=True,
    )


def test_the_main_flows_through_the_generated_client(ontop_client, site, user):
    models = _module(ontop_client, "models")
    types = _module(ontop_client, "types")

    wrong = _login(ontop_client, site, "Pixel 9", password="not-the-password")
    assert wrong.status_code == 400
    assert isinstance(wrong.parsed, models.InvalidOutput)

    login = _login(ontop_client, site, "Pixel 9")
    assert login.status_code == 200, login.content
    api = _authenticated(ontop_client, site, login.parsed.token)

    # Styles are public: a client without a token reads them.
    anonymous = ontop_client.Client(base_url=site, raise_on_unexpected_status=True)
    styles = _module(ontop_client, "api.styles.styles_list").sync(client=anonymous)
    assert [style.slug for style in styles] == ["cozy"]

    photo = types.File(payload=io.BytesIO(make_desk_photo()), file_name="desk.jpg", mime_type="image/jpeg")
    upload = _module(ontop_client, "api.uploads.uploads_create").sync_detailed(
        client=api, body=models.UploadInputRequest(photo=photo)
    )
    assert upload.status_code == 201, upload.content
    upload_id = upload.parsed.id

    create = _module(ontop_client, "api.makeovers.makeovers_create")
    body = models.MakeoverCreateInputRequest(
        upload_id=upload_id,
        style="cozy",
        preferences=models.PreferencesInputRequest(tone=models.ToneEnum("warm"), budget_max=50_000),
    )
    created = create.sync_detailed(client=api, body=body)
    assert created.status_code == 201, created.content
    makeover = created.parsed
    assert (makeover.style, makeover.style_name) == ("cozy", "Cozy")
    assert (makeover.preferences.tone, makeover.preferences.budget_max) == ("warm", 50_000)

    retrieve = _module(ontop_client, "api.makeovers.makeovers_retrieve")
    queued = retrieve.sync(client=api, job_id=makeover.id)
    assert (queued.state.status, queued.state.stage, queued.state.queue_position) == ("queued", "queued", 0)

    worker = run_gpu_worker_burst()
    assert worker.returncode == 0, worker.stderr[-3000:]
    run_django_worker_burst()

    done = retrieve.sync(client=api, job_id=makeover.id)
    assert done.state.status == "succeeded", (done.state.error_code, done.state.error_message)
    assert done.state.percent == 100.0
    job = GenerationJob.objects.get(pk=makeover.id)
    assert [item.label for item in done.items] == [r.label for r in job.recommendations.order_by("position")]
    planned = job_selectors.job_result(job=job).items
    assert [(item.label_ko, item.placement_ko) for item in done.items] == [
        (item.label_ko, item.placement_ko) for item in planned
    ]
    assert all(not item.label_ko.isascii() for item in done.items), "the planner wrote Korean names"
    offers = [offer for item in done.items for offer in item.offers]
    assert offers, "the demo catalog offers something for the planned items"
    assert all(offer.product.title and offer.product.image_url.startswith("http") for offer in offers)
    images = done.images.additional_properties
    assert {"input", "thumb", "result"} <= set(images)

    fetch_image = _module(ontop_client, "api.makeovers.makeovers_images_retrieve")
    result = fetch_image.sync_detailed(client=api, job_id=makeover.id, role="result")
    assert result.status_code == 200
    picture = Image.open(io.BytesIO(result.content))
    output = next(o for o in job.result["outputs"] if o["role"] == "result")
    assert picture.size == (output["width"], output["height"])

    history = _module(ontop_client, "api.makeovers.makeovers_list").sync(client=api, page=1, page_size=10)
    assert history.count == 1
    assert [m.id for m in history.results] == [makeover.id]

    quota = _module(ontop_client, "api.makeovers.quota_retrieve").sync(client=api)
    assert (quota.used, quota.remaining) == (1, quota.limit - 1)

    products = _module(ontop_client, "api.shop.shop_products_list").sync(client=anonymous)
    assert products.count == len(products.results) or products.next_ is not None
    first = products.results[0]
    product = _module(ontop_client, "api.shop.shop_products_retrieve").sync(client=anonymous, product_id=first.id)
    assert (product.id, product.title) == (first.id, first.title)

    # Deleting keeps the day's count: the quota is what was made, not what is left.
    deleted = _module(ontop_client, "api.makeovers.makeovers_destroy").sync_detailed(client=api, job_id=makeover.id)
    assert deleted.status_code == 204
    assert _module(ontop_client, "api.makeovers.quota_retrieve").sync(client=api).used == 1


def test_errors_come_back_as_their_documented_bodies(ontop_client, site, user):
    models = _module(ontop_client, "models")
    token = _login(ontop_client, site, "iPhone").parsed.token
    api = _authenticated(ontop_client, site, token, language="ko")

    create = _module(ontop_client, "api.makeovers.makeovers_create")
    bad_style = create.sync_detailed(
        client=api, body=models.MakeoverCreateInputRequest(upload_id=uuid.uuid4(), style="no-such-style")
    )
    assert bad_style.status_code == 400
    assert isinstance(bad_style.parsed, models.InvalidOutput)
    assert bad_style.parsed.code == "invalid"
    assert bad_style.parsed.fields.additional_properties == {"style": ["그런 스타일은 없어요. 목록에서 골라 주세요."]}

    bad_budget = create.sync_detailed(
        client=api,
        body=models.MakeoverCreateInputRequest(
            upload_id=uuid.uuid4(), preferences=models.PreferencesInputRequest(budget_min=9, budget_max=1)
        ),
    )
    assert bad_budget.status_code == 400
    assert bad_budget.parsed.fields.additional_properties == {
        "preferences.budget_max": ["최대 예산은 최소 예산 이상이어야 합니다."]
    }

    missing = _module(ontop_client, "api.makeovers.makeovers_retrieve").sync_detailed(client=api, job_id=uuid.uuid4())
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.ErrorOutput)
    assert missing.parsed.code == "not_found"
    assert "GenerationJob" not in missing.parsed.message
    assert missing.parsed.message == "찾을 수 없어요. 삭제되었을 수 있어요."

    unauthenticated = _module(ontop_client, "api.makeovers.makeovers_list").sync_detailed(
        client=_authenticated(ontop_client, site, "not-a-token")
    )
    assert unauthenticated.status_code == 401
    assert unauthenticated.parsed.code == "authentication_failed"
