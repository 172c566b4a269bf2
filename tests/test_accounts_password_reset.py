"""Forgot password by e-mail, the logged-out page, and the e-mail settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.core import mail
from django.core.cache import cache

from ontop.accounts.models import ApiToken
from ontop.accounts.services import api_token_issue
from tests.conftest import BASE_DIR

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/accounts/password/reset/[^/\s]+/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def _ask(client, email: str, **extra):
    return client.post("/accounts/password/reset/", {"email": email}, **extra)


def test_the_login_page_links_to_forgot_password(client):
    page = client.get("/accounts/login/").content.decode()
    assert '<a href="/accounts/password/reset/">Forgot password?</a>' in page
    korean = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "비밀번호를 잊으셨나요?" in korean


def test_the_emailed_link_sets_a_new_password_and_signs_every_client_out(client, user):
    key = api_token_issue(user=user, device_name="phone")
    response = _ask(client, "MINA@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["mina@example.com"]
    assert message.subject == "Choose a new OnTop password"
    assert message.body.startswith("Hello mina,")
    assert "The link works once, for 24 hours." in message.body
    link = LINK.search(message.body).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "sunny-window-seat", "new_password2": "sunny-window-seat"})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/password/reset/done/"
    assert "Your new password is set" in client.get(done["Location"]).content.decode()

    user.refresh_from_db()
    assert user.check_password("sunny-window-seat")
    assert not ApiToken.objects.filter(user=user).exists()
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    login = client.post("/accounts/login/", {"username": "mina", "password": "sunny-window-seat"})
    assert login.status_code == 302

    used_again = client.get(link, follow=True).content.decode()
    assert "This link does not work any more" in used_again


def test_the_email_speaks_the_language_of_the_request(client, user):
    _ask(client, "mina@example.com", HTTP_ACCEPT_LANGUAGE="ko")
    message = mail.outbox[0]
    assert message.subject == "OnTop 새 비밀번호 정하기"
    assert message.body.startswith("mina님, 안녕하세요.")
    assert "이 링크는 24시간 동안 한 번만 쓸 수 있어요." in message.body
    assert LINK.search(message.body)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, user):
    response = _ask(client, "nobody@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


def test_resetting_lifts_the_lock_mina_put_on_herself(client, user):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "mina", "password": "what-was-it"})
    assert (
        "Too many failed attempts"
        in client.post("/accounts/login/", {"username": "mina", "password": "correct-horse-battery"}).content.decode()
    )
    _ask(client, "mina@example.com")
    link = LINK.search(mail.outbox[0].body).group(1)
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": "sunny-window-seat", "new_password2": "sunny-window-seat"})
    assert client.post("/accounts/login/", {"username": "mina", "password": "sunny-window-seat"}).status_code == 302


def test_one_inbox_gets_at_most_three_mails_an_hour(client, user):
    for _ in range(5):
        assert _ask(client, "mina@example.com", REMOTE_ADDR="198.51.100.1").status_code == 302
    assert len(mail.outbox) == 3


def test_one_address_may_ask_ten_times_an_hour(client, user):
    for index in range(10):
        assert _ask(client, f"someone{index}@example.com", REMOTE_ADDR="198.51.100.2").status_code == 302
    refused = _ask(client, "mina@example.com", REMOTE_ADDR="198.51.100.2", HTTP_ACCEPT_LANGUAGE="ko")
    assert refused.status_code == 200
    assert "이 네트워크에서 요청이 너무 많았어요. 한 시간 뒤에 다시 시도해 주세요." in refused.content.decode()
    assert mail.outbox == []
    assert _ask(client, "mina@example.com", REMOTE_ADDR="198.51.100.3").status_code == 302
    assert len(mail.outbox) == 1


def test_logging_out_shows_a_logged_out_page(client, user):
    client.force_login(user)
    response = client.post("/accounts/logout/", follow=True)
    assert response.redirect_chain == [("/accounts/logged-out/", 302)]
    page = response.content.decode()
    assert "You are logged out" in page
    assert '<a class="button" href="/accounts/login/">Log in again</a>' in page
    assert not response.context["user"].is_authenticated
    korean = client.get("/accounts/logged-out/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "로그아웃되었어요" in korean
    assert "다시 로그인" in korean


def test_the_logged_out_page_sends_someone_logged_in_home(client, user):
    client.force_login(user)
    response = client.get("/accounts/logged-out/")
    assert response.status_code == 302
    assert response["Location"] == "/"


# ---- e-mail settings --------------------------------------------------------------------------------


def _settings_of(*names: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "DEFAULT_FROM_EMAIL"))}
    environment.update(env)
    code = "import django; django.setup(); from django.conf import settings; "
    code += "; ".join(f"print(settings.{name})" for name in names)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**environment, "DJANGO_SETTINGS_MODULE": "ontop.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_prints_mails_to_the_console():
    done = _settings_of("EMAIL_BACKEND", "DEFAULT_FROM_EMAIL", DEBUG="true")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["django.core.mail.backends.console.EmailBackend", "OnTop <noreply@localhost>"]


def test_production_sends_by_smtp_from_the_environment():
    done = _settings_of(
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
        DEBUG="false",
        SECRET_KEY="k3y-" + "x7Qp2Lm9Vb4Zr8Tn1Wc6Yd0Hs5Jf3Ga" * 2,
        ALLOWED_HOSTS="ontop.example,www.ontop.example",
        EMAIL_HOST="smtp.example.net",
        EMAIL_HOST_USER="ontop",
        EMAIL_HOST_PASSWORD="s3cret",
        EMAIL_USE_TLS="true",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.net",
        "587",
        "ontop",
        "True",
        "OnTop <noreply@ontop.example>",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT must be an integer, got 'smtp'."),
        ({"EMAIL_PORT": "70000"}, "EMAIL_PORT must be at most 65535, got 70000."),
        ({"EMAIL_USE_TLS": "sometimes"}, "EMAIL_USE_TLS must be a boolean"),
        ({"EMAIL_HOST_USER": "ontop"}, "Set both EMAIL_HOST_USER and EMAIL_HOST_PASSWORD, or neither."),
        ({"DEFAULT_FROM_EMAIL": "OnTop"}, "DEFAULT_FROM_EMAIL must be an e-mail address"),
        ({"ONTOP_TRUSTED_PROXY_COUNT": "-1"}, "ONTOP_TRUSTED_PROXY_COUNT must be at least 0, got -1."),
        ({"ONTOP_LOGIN_LOCKOUT_ATTEMPTS": "0"}, "ONTOP_LOGIN_LOCKOUT_ATTEMPTS must be at least 1, got 0."),
        (
            {
                "DEBUG": "false",
                "SECRET_KEY": "k3y-" + "x7Qp2Lm9Vb4Zr8Tn1Wc6Yd0Hs5Jf3Ga" * 2,
                "ALLOWED_HOSTS": "ontop.example",
                "EMAIL_HOST_USER": "ontop",
                "EMAIL_HOST_PASSWORD": "s3cret",
            },
            "EMAIL_HOST_PASSWORD would be sent unencrypted: set EMAIL_USE_TLS=true.",
        ),
    ],
)
def test_bad_mail_and_login_settings_stop_with_one_clear_line(env, message):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    environment.update({"DEBUG": "true", **env})
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("OnTop configuration error:")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
