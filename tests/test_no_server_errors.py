"""No 5xx that a client or an outage can cause, and every API error is JSON: a stopped PostgreSQL is
a 503 "we'll be right back", 1,000 levels of JSON are a 400, a NUL byte in a shop search is a 400,
racing sign-ups make one account and 400s, a 20 MB body is a 413."""

from __future__ import annotations

import io
import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from ontop import views
from ontop.accounts.services import api_token_issue, user_create
from ontop.devstack import EmbeddedPostgres, free_port

User = get_user_model()

BUSY_EN = "Our servers are busy right now. Please try again in a minute."
BUSY_KO = "지금 서버가 바빠요. 1분 뒤에 다시 시도해 주세요."


def _point_database_at(**changes) -> dict:
    """Points this process's connection elsewhere (the next query connects there); returns the old."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(changes)
    return saved


def _restore_database(saved: dict) -> None:
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(saved)


# ---- PostgreSQL down -----------------------------------------------------------------------------


@pytest.fixture
def stopped_database(transactional_db, tmp_path, user):
    """A session and a token made while the database was up, then the connection moved to a real
    PostgreSQL that is stopped under it (the open connection breaks; a new one is refused)."""
    cache.clear()
    token = api_token_issue(user=user)
    signed_in = Client(raise_request_exception=False)
    signed_in.force_login(user)
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    server.start()
    saved = _point_database_at(HOST="127.0.0.1", PORT=server.port, NAME="ontop", USER="postgres", PASSWORD="")
    try:
        connection.ensure_connection()  # a live connection, as a running server holds
        server.stop()
        yield signed_in, token
    finally:
        _restore_database(saved)
        server.stop()


PUBLIC_PAGES = ["/", "/shop/", "/shop/?q=desk"]
PRIVATE_PAGES = ["/makeovers/", "/makeovers/new/", "/diary/", "/studio/one-photo/"]
API_CALLS = [
    ("get", "/api/shop/products/?q=desk", None),
    ("post", "/api/auth/token/", {"username": "mina", "password": "correct-horse-battery"}),
    ("post", "/api/auth/signup/", {"username": "newbie", "email": "n@example.com", "password": "a-long-password-1"}),
]


def _assert_busy_page(response, busy_message: str) -> None:
    assert response.status_code == 503, response.content[:500]
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert busy_message in page
    assert "right back" in page or 'lang="ko"' in page


def test_a_stopped_database_is_a_503_on_every_page_and_api_call(stopped_database):
    signed_in, token = stopped_database
    anonymous = Client(raise_request_exception=False)
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
    # Twice: first through the connection that broke under the stopped server, then through fresh
    # connection attempts that are refused.
    for round_ in ("broken connection", "refused connection"):
        pages = [(path, client) for path in PUBLIC_PAGES for client in (anonymous, signed_in)]
        for path, client in pages + [(path, signed_in) for path in PRIVATE_PAGES]:
            response = client.get(path)
            assert response.status_code == 503, (round_, path, response.status_code)
            _assert_busy_page(response, BUSY_EN)
            assert "be right back" in response.content.decode()
        korean = anonymous.get("/shop/", HTTP_ACCEPT_LANGUAGE="ko")
        _assert_busy_page(korean, BUSY_KO)
        assert '<html lang="ko">' in korean.content.decode()
        # Anonymous calls that need PostgreSQL, and the same with a token (looked up in PostgreSQL).
        calls = [(call, client) for call in API_CALLS for client in (anonymous, api)]
        for (method, path, body), client in [*calls, (("get", "/api/makeovers/", None), api)]:
            if method == "get":
                response = client.get(path)
            else:
                response = client.post(path, json.dumps(body), content_type="application/json")
            assert response.status_code == 503, (round_, path, response.content[:300])
            assert response["Content-Type"] == "application/json"
            assert response.json() == {"code": "service_busy", "message": BUSY_EN}
            assert response["Retry-After"] == "30"
        logout = signed_in.post("/accounts/logout/")
        assert logout.status_code == 503
        assert signed_in.get("/accounts/login/").status_code == 503, "a signed-in session is read from PostgreSQL"
        assert anonymous.get("/accounts/login/").status_code == 200, "a page that needs no database still works"
        login = anonymous.post("/accounts/login/", {"username": "mina", "password": "correct-horse-battery"})
        _assert_busy_page(login, BUSY_EN)
        connection.close()  # the next round connects anew: refused


def test_handler500_answers_a_database_error_raised_outside_a_view_with_a_503(stopped_database):
    """Errors in middleware (loading or saving a session) skip process_exception and reach
    handler500: a real error from the stopped server must come out there as the same 503."""
    factory = RequestFactory()
    for path, expected_type in (("/api/makeovers/", "application/json"), ("/", "text/html; charset=utf-8")):
        request = factory.get(path)
        response = None
        try:
            User.objects.count()
        except OperationalError:  # handler500 runs inside Django's `except` block, as here
            response = views.server_error(request)
        assert response is not None, "the stopped server answered"
        assert response.status_code == 503
        assert response["Content-Type"] == expected_type
        assert response["Retry-After"] == "30"
    from ontop import urls

    assert urls.handler500 == "ontop.views.server_error", "the handler tested is the one Django calls"


def test_a_real_500_is_json_under_the_api_and_the_plain_page_on_the_web(transactional_db, user):
    """A database without our tables (a deploy that forgot to migrate) is a bug, not an outage: 500,
    in JSON for the API."""
    cache.clear()
    token = api_token_issue(user=user)
    saved = _point_database_at(NAME="postgres")  # same server, a database with no OnTop tables
    try:
        api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
        response = api.get("/api/makeovers/")
        assert response.status_code == 500
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "code": "internal",
            "message": "Something went wrong on our side. Please try again in a minute.",
        }
        page = Client(raise_request_exception=False).get("/")
        assert page.status_code == 500
        assert "Something went wrong on our side" in page.content.decode()
    finally:
        _restore_database(saved)


# ---- hostile bodies --------------------------------------------------------------------------------

DEEP = 1000
NESTED_BODIES = {
    "arrays": "[" * DEEP + "]" * DEEP,
    "objects": '{"a":' * DEEP + "1" + "}" * DEEP,
    "inside a field": '{"username": ' + "[" * DEEP + "]" * DEEP + ', "password": "x"}',
    "100,000 arrays": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/signup/", "/api/auth/token/", "/api/makeovers/", "/api/diary/entries/"])
@pytest.mark.parametrize("label", list(NESTED_BODIES))
def test_deeply_nested_json_is_a_400_with_a_code(client, user, path, label):
    cache.clear()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    response = client.post(path, NESTED_BODIES[label], content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body == {"code": "parse_error", "message": "The JSON is nested too deeply.", "fields": {}}, body


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/signup/", "/api/auth/token/", "/api/makeovers/"])
def test_json_deeper_than_any_request_needs_is_refused_by_the_parser(client, user, path):
    """ontop.api.JSONParser (the default, and the makeovers') bounds the depth at 32 levels, well
    before Python's decoder runs out of stack; views naming DRF's own parser still get a 400 from
    the exception handler when it does."""
    cache.clear()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    deep = '{"preferences": ' + '{"a":' * 40 + "1" + "}" * 40 + "}"
    response = client.post(path, deep, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"code": "parse_error", "message": "The JSON is nested too deeply.", "fields": {}}
    shallow = client.post(path, '{"preferences": {"a": {"b": 1}}}', content_type="application/json")
    assert shallow.status_code == 400
    assert shallow.json()["code"] == "invalid", "an ordinary document still reaches the serializer"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/shop/?q=%00", 400),
        ("/shop/?q=desk%00lamp", 400),
        ("/shop/?category=%00", 400),
        ("/shop/?ordering=%00", 400),
        ("/shop/?page=%00", 200),  # a page number that is no number: the first page, as Django's pager does
        ("/shop/?q=%00&category=%00&ordering=%00&page=%00", 400),
        ("/shop/recommended/?page=%00", 200),
        ("/shop/deals/?page=%00", 200),
        ("/shop/popular/?q=%00", 301),
        ("/api/shop/products/?q=%00", 400),
        ("/api/shop/products/?category=%00", 400),
        ("/api/shop/products/?ordering=%00", 400),
        ("/api/shop/products/?page=%00", 400),
        ("/api/shop/categories/?x=%00", 200),
    ],
)
def test_a_nul_byte_in_any_shop_query_is_never_a_500(client, path, status):
    response = client.get(path)
    assert response.status_code == status, response.content[:300]
    if path.startswith("/api/") and status == 400:
        assert response.json()["code"] == "invalid"


MEGABYTE = 1024 * 1024


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/signup/", "/api/auth/token/", "/api/makeovers/", "/api/diary/entries/"])
def test_a_20_mb_json_body_is_a_json_413(client, user, path):
    cache.clear()
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    body = '{"text": "' + "a" * (20 * MEGABYTE) + '"}'
    response = client.post(path, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "too_large", "message": "The request is too large. Send at most 16 MB."}


@pytest.mark.django_db
def test_a_too_large_form_on_the_web_is_a_413_page(client, logged_in_client):
    urlencoded = "username=" + "a" * (20 * MEGABYTE)
    refused = client.post("/accounts/login/", urlencoded, content_type="application/x-www-form-urlencoded")
    assert refused.status_code == 413
    assert "The request is too large. Send at most 16 MB." in refused.content.decode()
    # A multipart form streams its files, but its text fields are held in memory: Django refuses them
    # past the limit while the CSRF check reads the form, outside any view (handler400).
    big_field = {"diary": "x" * (17 * MEGABYTE), "photo": io.BytesIO(b"tiny")}
    multipart = logged_in_client.post("/makeovers/new/", big_field)
    assert multipart.status_code == 413
    assert "too large" in multipart.content.decode()
    api_multipart = logged_in_client.post("/api/uploads/", big_field)
    assert api_multipart.status_code == 413
    assert api_multipart.json()["code"] == "too_large"


# ---- racing sign-ups -------------------------------------------------------------------------------


def _race(count: int, send) -> list:
    """`send(i)` from `count` threads released at once (each thread has its own database connection,
    so these are concurrent transactions on the real server)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = send(index)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


RACER_NAMES = ["racer2", "RACER2", "Racer2", "racer2", "rAcEr2", "RACER2"]


@pytest.mark.django_db(transaction=True)
def test_six_racing_api_sign_ups_for_one_name_in_any_case_make_one_account():
    cache.clear()

    def send(index: int):
        body = {"username": RACER_NAMES[index], "email": f"racer{index}@example.com", "password": "a-long-password-1"}
        response = Client(raise_request_exception=False).post(
            "/api/auth/signup/", json.dumps(body), content_type="application/json"
        )
        return response.status_code, response.json()

    results = _race(6, send)
    statuses = sorted(status for status, _body in results)
    assert statuses == [201, 400, 400, 400, 400, 400], results
    for status, body in results:
        if status == 400:
            assert body["code"] == "invalid"
            assert body["fields"] == {"username": ["This username is taken."]}
    assert User.objects.filter(username__iexact="racer2").count() == 1


@pytest.mark.django_db(transaction=True)
def test_six_racing_web_sign_ups_make_one_account_and_five_form_errors():
    def send(index: int):
        response = Client(raise_request_exception=False).post(
            "/accounts/signup/",
            {
                "username": RACER_NAMES[index],
                "email": f"web{index}@example.com",
                "password1": "a-long-password-1",
                "password2": "a-long-password-1",
            },
        )
        return response.status_code, response.content.decode()

    results = _race(6, send)
    assert sorted(status for status, _page in results) == [200, 200, 200, 200, 200, 302], [r[0] for r in results]
    for status, page in results:
        if status == 200:
            assert "already exists" in page or "This username is taken." in page
    assert User.objects.filter(username__iexact="racer2").count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_username_that_differs_only_by_case(user):
    """What the race's loser meets when both passed the form's check: the unique index on
    lower(username), mapped to the form's own error."""
    with pytest.raises(ValidationError) as refused:
        user_create(username="MINA", email="other@example.com", password="a-long-password-1")
    assert refused.value.message_dict == {"username": ["This username is taken."]}
    with pytest.raises(ValidationError) as same_email:
        user_create(username="someone", email="mina@example.com", password="a-long-password-1")
    assert list(same_email.value.message_dict) == ["email"]
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_login_is_case_insensitive_on_the_api_and_the_web(client, user):
    cache.clear()
    token = client.post(
        "/api/auth/token/",
        {"username": "MINA", "password": "correct-horse-battery"},
        content_type="application/json",
    )
    assert token.status_code == 200, token.content
    page = client.post("/accounts/login/", {"username": "Mina", "password": "correct-horse-battery"})
    assert page.status_code == 302
    assert client.get("/api/me/").json()["username"] == "mina"
    wrong = client.post(
        "/api/auth/token/", {"username": "MINA", "password": "wrong-password"}, content_type="application/json"
    )
    assert wrong.json()["code"] == "invalid_credentials"
