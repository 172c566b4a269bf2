"""Every documented response is what the API really sends: schemathesis generates requests for every
operation of the OpenAPI schema (valid and invalid ones), sends them to the real Django app (real
PostgreSQL and Redis), and checks status codes, content types, headers and bodies against the schema,
and that nothing is a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ontop.accounts.services import api_token_issue

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _app():
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", _app())


@pytest.fixture(autouse=True)
def _connection_kept_open():
    """As Django's test client does: the app runs inside the test's transaction, so a request must
    not close the database connection when it ends."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_every_documented_response_matches_the_schema(case, user, redis_clean):
    token = api_token_issue(user=user)
    case.call_and_validate(
        headers={"Authorization": f"Token {token}", "Accept-Language": "ko"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
