import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_sign_up_logs_in_and_stores_a_hashed_password(client):
    response = client.post(
        reverse("accounts:signup"),
        {
            "username": "sora",
            "email": "Sora@Example.com",
            "password1": "plum-tree-4-ever",
            "password2": "plum-tree-4-ever",
        },
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="sora")
    assert user.email == "Sora@example.com"
    assert user.password.startswith("pbkdf2_")
    assert "plum-tree" not in user.password
    assert client.get(reverse("home")).context["user"] == user


def test_sign_up_rejects_duplicate_email_and_weak_password(client, user):
    response = client.post(
        reverse("accounts:signup"),
        {"username": "other", "email": "MINA@example.com", "password1": "123", "password2": "123"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "email" in errors
    assert "password2" in errors
    assert not get_user_model().objects.filter(username="other").exists()


def test_log_in_log_out_and_change_password(client, user):
    response = client.post(reverse("accounts:login"), {"username": "mina", "password": "correct-horse-battery"})
    assert response.status_code == 302
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "correct-horse-battery",
            "new_password1": "new-secret-words",
            "new_password2": "new-secret-words",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("new-secret-words")
    client.post(reverse("accounts:logout"))
    assert not client.get(reverse("home")).context["user"].is_authenticated


def test_pages_speak_korean_when_asked(client):
    response = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<html lang="ko">' in page
    assert "내 책상 꾸미기" in page
    assert "Make over my desk" in client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_api_sign_up_token_me_and_logout(client):
    response = client.post(
        "/api/auth/signup/",
        {"username": "hana", "email": "hana@example.com", "password": "blue-whale-song"},
        content_type="application/json",
    )
    assert response.status_code == 201
    token = response.json()["token"]
    me = client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200
    assert me.json()["username"] == "hana"

    again = client.post(
        "/api/auth/token/", {"username": "hana", "password": "blue-whale-song"}, content_type="application/json"
    )
    assert again.status_code == 200
    second = again.json()["token"]
    assert second != token, "every login is its own client with its own token"

    assert client.post("/api/auth/logout/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 204
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 200


def test_api_errors_have_a_code_and_a_message(client, user):
    wrong = client.post("/api/auth/token/", {"username": "mina", "password": "nope"}, content_type="application/json")
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_credentials"
    weak = client.post(
        "/api/auth/signup/", {"username": "x", "email": "bad", "password": "1"}, content_type="application/json"
    )
    assert weak.status_code == 400
    assert weak.json()["code"] == "invalid"
    assert weak.json()["message"]
    assert client.get("/api/me/").json()["code"] == "not_authenticated"


def test_openapi_schema_and_docs_page_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/makeovers/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
