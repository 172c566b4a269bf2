"""One API token per signed-in client: named, listable, revocable, stored only as a hash."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ontop.accounts.models import ApiToken
from ontop.accounts.services import api_token_issue

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the `user` fixture's (mina)


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def _login(client, **extra) -> dict:
    payload = {"username": "mina", "password": PASSWORD}
    if "device_name" in extra:
        payload["device_name"] = extra.pop("device_name")
    response = client.post("/api/auth/token/", payload, content_type="application/json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def _auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {token}"}


def test_two_phones_get_two_tokens_and_logging_out_one_keeps_the_other(client, user):
    phone = _login(client, device_name="Mina's phone")
    tablet = _login(client, device_name="Mina's tablet")
    assert phone["token"] != tablet["token"]
    assert phone["device_name"] == "Mina's phone"
    assert client.get("/api/me/", **_auth(phone["token"])).status_code == 200

    assert client.post("/api/auth/logout/", **_auth(phone["token"])).status_code == 204
    assert client.get("/api/me/", **_auth(phone["token"])).json()["code"] == "authentication_failed"
    assert client.get("/api/me/", **_auth(tablet["token"])).json()["username"] == "mina"
    assert list(ApiToken.objects.values_list("device_name", flat=True)) == ["Mina's tablet"]


def test_the_device_name_defaults_to_the_user_agent_then_api_client(client, user):
    agent = "OnTop/2.1 (iPhone; iOS 19.1)"
    assert _login(client, HTTP_USER_AGENT=agent)["device_name"] == agent
    assert _login(client, HTTP_USER_AGENT="")["device_name"] == "API client"
    assert _login(client, device_name="   ", HTTP_USER_AGENT="curl/8.9")["device_name"] == "curl/8.9"
    long_name = _login(client, HTTP_USER_AGENT="x" * 300)["device_name"]
    assert long_name == "x" * 100


def test_sign_up_names_its_token_too(client):
    response = client.post(
        "/api/auth/signup/",
        {"username": "hana", "email": "hana@example.com", "password": "blue-whale-song", "device_name": "Galaxy"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["device_name"] == "Galaxy"
    tokens = client.get("/api/auth/tokens/", **_auth(response.json()["token"])).json()
    assert [(t["device_name"], t["current"]) for t in tokens["results"]] == [("Galaxy", True)]


def test_the_token_list_marks_the_current_one_and_when_each_was_used(client, user, other_user):
    phone = _login(client, device_name="phone")
    laptop = _login(client, device_name="laptop")
    api_token_issue(user=other_user, device_name="jun's phone")

    listing = client.get("/api/auth/tokens/", **_auth(phone["token"]))
    assert listing.status_code == 200
    body = listing.json()
    assert body["count"] == 2, "only mina's own clients"
    rows = {row["device_name"]: row for row in body["results"]}
    assert [row["device_name"] for row in body["results"]] == ["laptop", "phone"], "newest first"
    assert set(rows["phone"]) == {"id", "device_name", "created", "last_used", "current"}
    assert rows["phone"]["current"] is True
    assert rows["laptop"]["current"] is False
    assert rows["phone"]["id"] == phone["id"]
    assert rows["phone"]["last_used"] is not None, "this very request used it"
    assert rows["laptop"]["last_used"] is None
    assert laptop["id"] == rows["laptop"]["id"]


def test_revoking_another_of_my_tokens_signs_that_client_out(client, user):
    phone = _login(client, device_name="phone")
    old_tablet = _login(client, device_name="old tablet")
    gone = client.delete(f"/api/auth/tokens/{old_tablet['id']}/", **_auth(phone["token"]))
    assert gone.status_code == 204
    assert gone.content == b""
    assert client.get("/api/me/", **_auth(old_tablet["token"])).status_code == 401
    assert client.get("/api/me/", **_auth(phone["token"])).status_code == 200
    again = client.delete(f"/api/auth/tokens/{old_tablet['id']}/", **_auth(phone["token"]))
    assert again.status_code == 404
    assert again.json()["code"] == "not_found"


def test_nobody_can_revoke_someone_elses_token(client, user, other_user):
    mine = _login(client)
    juns_key = api_token_issue(user=other_user, device_name="jun's phone")
    juns = ApiToken.objects.get(user=other_user)
    response = client.delete(f"/api/auth/tokens/{juns.pk}/", **_auth(mine["token"]), HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "그런 토큰이 없어요."}
    assert client.get("/api/me/", **_auth(juns_key)).json()["username"] == "jun"


def test_token_endpoints_need_a_token(client, user):
    assert client.get("/api/auth/tokens/").json()["code"] == "not_authenticated"
    assert client.delete("/api/auth/tokens/1/").status_code == 401


def test_only_a_hash_of_each_key_is_stored(client, user):
    key = _login(client)["token"]
    token = ApiToken.objects.get()
    assert len(key) == 40
    assert token.key_hash != key
    assert len(token.key_hash) == 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        assert all(key not in str(value) for value in cursor.fetchone())


def test_logout_with_the_website_session_ends_the_session_and_keeps_tokens(client, user):
    key = _login(client)["token"]
    client.force_login(user)
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/me/").status_code == 401, "the session is over"
    assert client.get("/api/me/", **_auth(key)).status_code == 200


def test_changing_the_password_on_the_website_signs_out_api_clients(client, user):
    key = _login(client)["token"]
    client.force_login(user)
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "new-secret-words", "new_password2": "new-secret-words"},
    )
    assert response.status_code == 302
    assert client.get("/api/me/", **_auth(key)).status_code == 401
    assert not ApiToken.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_tokens_from_before_are_moved_and_keep_working(client, user):
    """A database that ran DRF's authtoken: each old key becomes an "API client" token; no plain key stays."""
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamptz NOT NULL,"
            " user_id bigint NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES ('0123456789abcdef0123456789abcdef01234567', "
            "'2026-01-02T03:04:05Z', %s)",
            [user.pk],
        )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        me = client.get("/api/me/", HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
        assert me.status_code == 200
        assert me.json()["username"] == "mina"
        token = ApiToken.objects.get()
        assert token.device_name == "API client"
        assert token.created.isoformat() == "2026-01-02T03:04:05+00:00"
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM authtoken_token")
            assert cursor.fetchone() == (0,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS authtoken_token")


def test_the_schema_describes_the_token_endpoints(openapi_schema_yaml):
    import yaml

    schema = yaml.safe_load(openapi_schema_yaml)
    paths = schema["paths"]
    listing = paths["/api/auth/tokens/"]["get"]
    assert listing["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page == "#/components/schemas/PaginatedTokenInfoOutputList"
    assert set(schema["components"]["schemas"]["TokenInfoOutput"]["properties"]) == {
        "id",
        "device_name",
        "created",
        "last_used",
        "current",
    }
    delete = paths["/api/auth/tokens/{token_id}/"]["delete"]
    assert "content" not in delete["responses"]["204"]
    assert delete["responses"]["404"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/ErrorOutput"
    )
    login = paths["/api/auth/token/"]["post"]
    assert login["security"] == [{}]
    assert "device_name" in schema["components"]["schemas"]["LoginInputRequest"]["properties"]
    locked = login["responses"]["429"]["content"]["application/json"]["schema"]["$ref"]
    assert locked == "#/components/schemas/LoginLockedOutput"
    assert login["responses"]["400"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/InvalidOutput"
    )
    assert "content" not in paths["/api/auth/logout/"]["post"]["responses"]["204"]
