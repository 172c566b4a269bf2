"""Login lockout per (username, client address) and per client address, on the web form and the API."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import RequestFactory, override_settings

from ontop.accounts.addresses import client_address, lockout_address

pytestmark = pytest.mark.django_db

ATTACKER = "10.0.0.9"
HOME = "127.0.0.1"
PASSWORD = "correct-horse-battery"  # the `user` fixture's (mina)


@pytest.fixture(autouse=True)
def _no_counts_left_over(settings):
    # A fast hasher: these tests make dozens of failed logins (the `user` fixture is created after this).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def _api_login(client, username: str, password: str, address: str, **extra):
    return client.post(
        "/api/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
        **extra,
    )


def _web_login(client, username: str, password: str, address: str, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def test_an_attacker_elsewhere_cannot_lock_mina_out(client, user):
    statuses = [_api_login(client, "mina", "guess", ATTACKER).status_code for _ in range(6)]
    assert statuses == [400, 400, 400, 400, 400, 429]
    assert _api_login(client, "mina", PASSWORD, ATTACKER).json()["code"] == "login_locked"

    web = _web_login(client, "mina", PASSWORD, HOME)
    assert web.status_code == 302, "mina's own browser still logs in"
    api = _api_login(client, "mina", PASSWORD, HOME)
    assert api.status_code == 200
    assert len(api.json()["token"]) == 40


def test_the_web_form_locks_the_pair_and_the_api_sees_it_too(client, user):
    for _ in range(5):
        page = _web_login(client, "mina", "guess", ATTACKER)
        assert page.status_code == 200
        assert "Please enter a correct username and password" in page.content.decode()
    page = _web_login(client, "MINA", PASSWORD, ATTACKER)
    assert page.status_code == 200
    assert "Too many failed attempts. Please wait 15 minutes and try again." in page.content.decode()
    assert _api_login(client, "mina", PASSWORD, ATTACKER).status_code == 429
    assert _web_login(client, "mina", PASSWORD, HOME).status_code == 302


@override_settings(LOGIN_LOCKOUT_ADDRESS_ATTEMPTS=6)
def test_many_usernames_from_one_address_lock_the_address(client, user, other_user):
    for name in ["ara", "bom", "cho", "dan", "eun", "jun"]:
        assert _api_login(client, name, "guess", ATTACKER).status_code == 400
    locked = _api_login(client, "mina", PASSWORD, ATTACKER)
    assert locked.status_code == 429, "the address guessed too much: every username waits"
    assert locked.json()["code"] == "login_locked"
    page = _web_login(client, "someone", "guess", ATTACKER)
    assert "Too many failed attempts" in page.content.decode()
    assert _api_login(client, "mina", PASSWORD, HOME).status_code == 200


def test_the_default_address_limit_is_higher_than_the_username_limit(settings):
    # Offices and mobile carriers put many people behind one address.
    assert settings.LOGIN_LOCKOUT_ATTEMPTS == 5
    assert settings.LOGIN_LOCKOUT_ADDRESS_ATTEMPTS == 30
    assert settings.LOGIN_LOCKOUT_SECONDS == 15 * 60


@override_settings(LOGIN_LOCKOUT_ADDRESS_ATTEMPTS=6)
def test_a_correct_password_clears_its_own_pair_only(client, user, other_user):
    for _ in range(4):
        assert _api_login(client, "mina", "guess", ATTACKER).status_code == 400
    assert _api_login(client, "mina", PASSWORD, ATTACKER).status_code == 200
    for _ in range(4):
        assert _web_login(client, "mina", "guess", ATTACKER).status_code == 200
    # mina's pair started again at 0 (4 < 5), but the address has now seen 8 failures: logging in to
    # one account must not wipe the address's count of guesses at others.
    assert _api_login(client, "jun", "another-long-password", ATTACKER).status_code == 429


def test_the_locked_answer_is_json_with_retry_after_in_the_requests_language(client, user):
    for _ in range(5):
        _api_login(client, "mina", "guess", ATTACKER)
    locked = _api_login(client, "mina", PASSWORD, ATTACKER, HTTP_ACCEPT_LANGUAGE="ko")
    assert locked.status_code == 429
    body = locked.json()
    assert body["code"] == "login_locked"
    assert body["message"] == "로그인 실패가 너무 많아요. 15분 뒤에 다시 시도해 주세요."
    assert 899 <= body["retry_after"] <= 900
    assert locked["Retry-After"] == str(body["retry_after"])
    english = _api_login(client, "mina", PASSWORD, ATTACKER, HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["message"] == "Too many failed attempts. Please wait 15 minutes and try again."


def test_the_web_lock_message_speaks_korean(client, user):
    for _ in range(5):
        _web_login(client, "mina", "guess", ATTACKER)
    page = _web_login(client, "mina", PASSWORD, ATTACKER, HTTP_ACCEPT_LANGUAGE="ko")
    assert "로그인 실패가 너무 많아요. 15분 뒤에 다시 시도해 주세요." in page.content.decode()


def test_wrong_password_message_speaks_korean(client, user):
    wrong = _api_login(client, "mina", "guess", HOME, HTTP_ACCEPT_LANGUAGE="ko")
    assert wrong.json() == {"code": "invalid_credentials", "message": "아이디나 비밀번호가 맞지 않아요.", "fields": {}}


@override_settings(LOGIN_LOCKOUT_SECONDS=1)
def test_a_lock_ends_after_its_time(client, user):
    for _ in range(5):
        _api_login(client, "mina", "guess", ATTACKER)
    locked = _api_login(client, "mina", PASSWORD, ATTACKER)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "1"
    assert "wait 1 minute and" in locked.json()["message"]
    time.sleep(1.2)
    assert _api_login(client, "mina", PASSWORD, ATTACKER).status_code == 200


def test_a_forged_forwarded_for_header_is_ignored_without_trusted_proxies(client, user):
    for index in range(6):
        response = _api_login(client, "mina", "guess", ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{index}")
    assert response.status_code == 429, "a client cannot choose its own address"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_trusted_proxy_the_forwarded_address_is_the_client(client, user):
    proxy = "10.1.1.1"
    for _ in range(5):
        _api_login(client, "mina", "guess", proxy, HTTP_X_FORWARDED_FOR=f"203.0.113.5, {ATTACKER}")
    assert _api_login(client, "mina", PASSWORD, proxy, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    assert _web_login(client, "mina", PASSWORD, proxy, HTTP_X_FORWARDED_FOR=HOME).status_code == 302


def test_client_address_reads_the_proxy_count(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7, 10.1.1.2")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.1.1.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "10.1.1.2"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(request) == "198.51.100.7"
    settings.TRUSTED_PROXY_COUNT = 5
    assert client_address(request) == "6.6.6.6"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="10.1.1.1")) == "10.1.1.1"


def test_one_ipv6_customer_prefix_counts_as_one_address():
    assert lockout_address("2001:db8:1:2:aaaa::1") == lockout_address("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert lockout_address("2001:db8:1:3::1") != lockout_address("2001:db8:1:2::1")
    assert lockout_address("::ffff:192.0.2.1") == "192.0.2.1"
    assert lockout_address("203.0.113.9") == "203.0.113.9"


def test_ipv6_guesses_from_one_prefix_lock_it(client, user):
    for index in range(5):
        _api_login(client, "mina", "guess", f"2001:db8:1:2::{index + 1}")
    assert _api_login(client, "mina", PASSWORD, "2001:db8:1:2::99").status_code == 429
    assert _api_login(client, "mina", PASSWORD, "2001:db8:7:7::1").status_code == 200


def test_the_admin_login_is_locked_the_same_way(client, user):
    user.is_staff = True
    user.save()
    for _ in range(5):
        page = client.post("/admin/login/", {"username": "mina", "password": "guess"}, REMOTE_ADDR=ATTACKER)
        assert page.status_code == 200
    page = client.post("/admin/login/", {"username": "mina", "password": PASSWORD}, REMOTE_ADDR=ATTACKER)
    assert "Too many failed attempts. Please wait 15 minutes and try again." in page.content.decode()
    home = client.post("/admin/login/?next=/admin/", {"username": "mina", "password": PASSWORD}, REMOTE_ADDR=HOME)
    assert home.status_code == 302
    assert home["Location"] == "/admin/"


def test_an_empty_password_does_not_reset_the_count_between_guesses(client, user):
    """Four guesses, an empty password, four more: the pair is locked all the same."""
    for _ in range(4):
        assert _web_login(client, "mina", "guess", ATTACKER).status_code == 200
    assert _web_login(client, "mina", "", ATTACKER).status_code == 200
    assert _web_login(client, "mina", "guess", ATTACKER).status_code == 200
    locked = _web_login(client, "mina", PASSWORD, ATTACKER)
    assert locked.status_code == 200, "the right password from the guesser's address is refused now"
    assert "Too many failed attempts" in locked.content.decode()


def test_a_customer_trying_the_admin_with_the_right_password_is_not_counted_as_guessing(client, user):
    for _ in range(6):
        page = client.post("/admin/login/", {"username": "mina", "password": PASSWORD}, REMOTE_ADDR=HOME)
        assert page.status_code == 200, "not staff: the admin refuses"
    assert _web_login(client, "mina", PASSWORD, HOME).status_code == 302, "the site login still works"
