"""Accounts in a real browser (Debian's headless Chromium) against Django's live test server:
log out and see it said, forget the password and set a new one from the e-mailed link, in English
and Korean, and a lockout message. Screenshots at phone and laptop widths go to var/screenshots/."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.core.cache import cache

from tests.test_browser import _shoot, browser  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def _set_language(driver, base: str, code: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(base + "/accounts/login/")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=language]")).select_by_value(code)
    _wait(lambda: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == code, "the language switch")


def _wait(condition, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _log_in(driver, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/accounts/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    button = driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]")
    driver.execute_script("window.__ontopBeforeSubmit = true;")
    button.click()
    # The answer must arrive before the next page is asked for: a pending POST that a new navigation
    # cuts off is a login attempt the server never counted. The marker lives on the old document
    # only, so its absence on a fully loaded page means the answer page is there.
    _wait(lambda: _answer_loaded(driver), "the login answer")


def _answer_loaded(driver) -> bool:
    from selenium.common.exceptions import WebDriverException

    try:
        return driver.execute_script("return document.readyState === 'complete' && !window.__ontopBeforeSubmit;")
    except WebDriverException:
        # Asked while the page was being replaced ("Node … does not belong to the document"):
        # not there yet, ask again.
        return False


WORDS = {
    "en": {
        "logged_out": "You are logged out",
        "again": "Log in again",
        "forgot": "Forgot password?",
        "sent": "Check your e-mail",
        "set": "Your new password is set",
    },
    "ko": {
        "logged_out": "로그아웃되었어요",
        "again": "다시 로그인",
        "forgot": "비밀번호를 잊으셨나요?",
        "sent": "이메일을 확인해 주세요",
        "set": "새 비밀번호가 설정되었어요",
    },
}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_log_out_then_forget_and_reset_the_password(browser, live_server, user, language):  # noqa: F811 - fixture
    from selenium.webdriver.common.by import By

    words = WORDS[language]
    base = live_server.url
    _set_language(browser, base, language)
    _log_in(browser, base, "mina", "correct-horse-battery")
    _wait(lambda: browser.current_url == base + "/", "the home page after logging in")

    browser.find_element(By.CSS_SELECTOR, "form[action='/accounts/logout/'] button").click()
    _wait(lambda: browser.current_url == base + "/accounts/logged-out/", "the logged-out page")
    assert browser.find_element(By.TAG_NAME, "h1").text == words["logged_out"]
    _shoot(browser, f"accounts-logged-out-{language}")
    browser.find_element(By.LINK_TEXT, words["again"]).click()
    _wait(lambda: browser.current_url == base + "/accounts/login/", "the login page")

    browser.find_element(By.LINK_TEXT, words["forgot"]).click()
    _wait(lambda: browser.current_url == base + "/accounts/password/reset/", "the forgot-password page")
    _shoot(browser, f"accounts-forgot-password-{language}")
    browser.find_element(By.NAME, "email").send_keys("mina@example.com")
    browser.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    _wait(lambda: browser.current_url == base + "/accounts/password/reset/sent/", "the check-your-mail page")
    assert browser.find_element(By.TAG_NAME, "h1").text == words["sent"]
    _shoot(browser, f"accounts-reset-sent-{language}")

    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/\S+/\S+/", mail.outbox[0].body).group(0)
    browser.get(link)
    _wait(lambda: "set-password" in browser.current_url, "the new-password form")
    _shoot(browser, f"accounts-new-password-{language}")
    browser.find_element(By.NAME, "new_password1").send_keys("sunny-window-seat")
    browser.find_element(By.NAME, "new_password2").send_keys("sunny-window-seat")
    browser.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    _wait(lambda: browser.current_url == base + "/accounts/password/reset/done/", "the done page")
    assert browser.find_element(By.TAG_NAME, "h1").text == words["set"]

    _log_in(browser, base, "mina", "sunny-window-seat")
    _wait(lambda: browser.current_url == base + "/", "the home page with the new password")


def test_the_lockout_message_is_shown_on_the_form(browser, live_server, user):  # noqa: F811 - pytest fixture
    from selenium.webdriver.common.by import By

    base = live_server.url
    _set_language(browser, base, "ko")
    for _ in range(5):
        _log_in(browser, base, "mina", "not-it")
    _log_in(browser, base, "mina", "correct-horse-battery")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert alert == "로그인 실패가 너무 많아요. 15분 뒤에 다시 시도해 주세요."
    _shoot(browser, "accounts-locked-ko")
