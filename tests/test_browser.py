"""A person's whole visit in a real browser (Debian's headless Chromium) against the real stack:
sign up, upload, pick a style, watch the progress bar to 100 %, see the result with hotspots and
item cards, open the history, delete the makeover. Screenshots at phone and laptop widths go to
var/screenshots/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ontop.devstack import free_port
from tests.conftest import BASE_DIR
from tests.photos import make_desk_photo
from tests.stack import Stack

pytestmark = pytest.mark.slow
SCREENSHOTS = BASE_DIR / "var" / "screenshots"
WIDTHS = {"phone": (390, 844), "laptop": (1280, 900)}


def chromium_driver():
    """Debian's headless Chromium through Selenium, at laptop size (every browser test's browser)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("Chromium and chromedriver are needed: `make browser-deps` installs them.")
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser():
    driver = chromium_driver()
    yield driver
    driver.quit()


def _shoot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        driver.set_window_size(width, height)
        time.sleep(0.2)
        full = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(width, min(max(height, full + 120), 4000))
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
    driver.set_window_size(*WIDTHS["laptop"])


def _wait_for(condition, timeout: float = 90, what: str = "the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_person_makes_over_their_desk(browser, tmp_path):
    from selenium.webdriver.common.by import By

    photo = tmp_path / "my-desk.jpg"
    photo.write_bytes(make_desk_photo((800, 600)))
    stack = Stack(tmp_path, port=free_port(), pg_port=free_port(), redis_port=free_port(), ONTOP_GPU_STEPS="12")
    try:
        stack.wait_ready()
        find = browser.find_element
        browser.get(stack.base + "/")
        _shoot(browser, "home")
        find(By.LINK_TEXT, "Make over my desk").click()
        assert "/accounts/login/" in browser.current_url, "makeovers need an account"
        find(By.LINK_TEXT, "Create an account").click()
        find(By.NAME, "username").send_keys("jisoo")
        find(By.NAME, "email").send_keys("jisoo@example.com")
        find(By.NAME, "password1").send_keys("maple-desk-lamp-9")
        find(By.NAME, "password2").send_keys("maple-desk-lamp-9")
        find(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
        _wait_for(lambda: "Welcome to OnTop" in browser.page_source, what="the welcome message")

        browser.get(stack.base + "/makeovers/new/")
        assert "5 of 5 makeovers left today." in browser.page_source
        find(By.NAME, "photo").send_keys(str(photo))
        _wait_for(lambda: find(By.ID, "photo-preview").get_attribute("hidden") is None, what="the photo preview")
        style_cards = browser.find_elements(By.CSS_SELECTOR, ".style-card")
        assert len(style_cards) >= 2
        style_cards[1].click()
        _shoot(browser, "new-makeover")
        find(By.CSS_SELECTOR, "#new-makeover button[type=submit]").click()

        _wait_for(lambda: "/makeovers/" in browser.current_url and browser.find_elements(By.ID, "job"), what="job page")
        seen: list[float] = []
        shot_progress = False

        def progress_done() -> bool:
            finished = bool(browser.find_elements(By.ID, "compare"))  # looked at first: the page may reload
            bars = browser.find_elements(By.CSS_SELECTOR, "[role=progressbar]")
            if bars:
                try:
                    seen.append(float(bars[0].get_attribute("aria-valuenow") or 0))
                except Exception:  # noqa: BLE001 - the page reloaded under us
                    return False
            return finished

        def watch() -> bool:
            nonlocal shot_progress
            if not shot_progress and seen and 0 < seen[-1] < 100:
                _shoot(browser, "progress")
                shot_progress = True
            return progress_done()

        _wait_for(watch, timeout=120, what="the finished makeover")
        assert seen[-1] == 100.0, seen
        assert any(0 < value < 100 for value in seen), f"the bar moved through the job: {seen}"
        assert seen == sorted(seen), "the bar never goes backwards"

        pins = browser.find_elements(By.CSS_SELECTOR, "#compare .pin")
        cards = browser.find_elements(By.CSS_SELECTOR, ".card.item")
        assert len(cards) >= 3
        assert 1 <= len(pins) <= len(cards)
        buy = browser.find_elements(By.CSS_SELECTOR, ".card.item a.buy")
        assert buy, "item cards link to offers"
        assert all("/shop/go/" in link.get_attribute("href") for link in buy)
        # The demo catalogue's offers are Naver searches, and their buttons say so.
        assert {link.text for link in buy} == {"Search on 네이버쇼핑"}
        assert "Succeeded" in find(By.ID, "job-status").text
        _shoot(browser, "result")

        find(By.LINK_TEXT, "My makeovers").click()
        _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".history-item"), what="history")
        assert len(browser.find_elements(By.CSS_SELECTOR, ".history-item")) == 1
        _shoot(browser, "history")
        browser.find_elements(By.CSS_SELECTOR, ".history-item")[0].click()
        _wait_for(lambda: browser.find_elements(By.ID, "delete"), what="the makeover page")
        find(By.ID, "delete").click()
        browser.switch_to.alert.accept()
        _wait_for(lambda: "No makeovers yet." in browser.page_source, what="the empty history")

        browser.get(stack.base + "/shop/")
        _shoot(browser, "shop")
        browser.get(stack.base + "/?lang=ko")
        browser.execute_script(
            "document.querySelector('select[name=language]').value='ko';"
            "document.querySelector('select[name=language]').form.submit();"
        )
        _wait_for(lambda: "내 책상 꾸미기" in browser.page_source, what="the Korean home page")
        _shoot(browser, "home-ko")
    finally:
        stack.stop()
    assert Path(SCREENSHOTS / "result-phone.png").exists()
