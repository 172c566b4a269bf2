"""The Content-Security-Policy in a real browser (Debian's headless Chromium) against Django's live
test server: every main page, logged out and in, in English (laptop) and Korean (phone), breaks no
rule of the policy (nothing in the console, no `securitypolicyviolation` event) and its own scripts
really ran (the language switch, progress bars, swatches, the slider, Swagger UI's operations).

The makeover and the diary picture are made by the real workers (tiny preset), so the result page
shows what a person sees: the slider, its pins and the item cards.
"""

from __future__ import annotations

import io
import time

import pytest
from django.urls import reverse

from generation.models import GenerationJob
from makeovers.services import makeover_styles_load_demo
from shop.models import Product
from shop.services import catalog_load_demo
from tests.conftest import run_django_worker_burst, run_gpu_worker_burst
from tests.photos import make_desk_photo
from tests.test_browser import chromium_driver
from tests.test_diary_web import diary_styles, month_ago, write_entry

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Runs in every document before its own scripts (CDP), so every violation is kept, even one that a
# page causes after it loaded.
RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`);
});
"""
PHONE, LAPTOP = (390, 844), (1280, 900)


@pytest.fixture
def driver(monkeypatch):
    """chromium_driver() with the browser's console log kept (goog:loggingPrefs must be asked for
    when the session starts; the factory takes no options, so its webdriver.Chrome gets them here)."""
    from selenium import webdriver

    real_chrome = webdriver.Chrome

    def chrome_with_console_log(*, service, options):
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        return real_chrome(service=service, options=options)

    monkeypatch.setattr(webdriver, "Chrome", chrome_with_console_log)
    browser = chromium_driver()
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
    yield browser
    browser.quit()


def _wait(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _submit_makeover(client) -> GenerationJob:
    response = client.post(reverse("makeovers:new"), {"photo": io.BytesIO(make_desk_photo((400, 300)))})
    assert response.status_code == 302, response.content[:500]
    return GenerationJob.objects.latest("created_at")


# What our scripts did to a page, read back from it: widths and swatches from data-* attributes
# (static/js/site.js), and the marker site.js sets when it ran.
EFFECTS = """
const bars = Array.from(document.querySelectorAll("[data-width]"));
const swatches = Array.from(document.querySelectorAll("[data-swatch]"));
return {
  scripted: document.documentElement.dataset.scripted || "",
  lang: document.documentElement.lang,
  bars: bars.map((bar) => [bar.style.width, Math.min(100, Math.max(0, Number(bar.dataset.width))) + "%"]),
  swatches: swatches.map((swatch) => swatch.style.backgroundImage.includes("gradient")
    || swatch.style.backgroundColor !== ""),
  pins: Array.from(document.querySelectorAll(".compare-frame .pin")).map((pin) => pin.style.left !== ""),
  sliders: Array.from(document.querySelectorAll(".compare-frame")).map(
    (frame) => frame.style.getPropertyValue("--position")),
};
"""


class Visit:
    def __init__(self, driver, base: str) -> None:
        self.driver, self.base = driver, base
        self.seen: list[str] = []

    def page(self, path: str, language: str) -> dict:
        """Open a page, let its scripts run, and return what they did; fails on any CSP violation."""
        driver = self.driver
        driver.get(self.base + path)
        if path.startswith("/api/docs/"):
            # Swagger UI drew the API's operations: its start script (a separate request) ran.
            _wait(lambda: driver.execute_script("return document.querySelectorAll('.opblock').length > 5"), path)
            effects = {"lang": language}
        else:
            _wait(lambda: driver.execute_script("return document.readyState === 'complete'"), path)
            time.sleep(0.3)  # a progress page's first status request, the slider's layout
            effects = driver.execute_script(EFFECTS)
            assert effects["scripted"] == "true", f"{path}: static/js/site.js did not run"
            assert all(width == expected for width, expected in effects["bars"]), (path, effects["bars"])
            assert all(effects["swatches"]), (path, effects["swatches"])
        assert effects["lang"] == language, (path, effects["lang"])
        violations = driver.execute_script("return window.__cspViolations")
        console = driver.get_log("browser")
        refused = [
            e["message"] for e in console if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
        ]
        uncaught = [e["message"] for e in console if "Uncaught" in e["message"]]
        assert violations == [], (path, language, violations)
        assert refused == [], (path, language, refused)
        assert uncaught == [], (path, language, uncaught)
        self.seen.append(f"{language} {path}")
        return effects

    def switch_language(self, code: str) -> None:
        """The language switch in the header (a select that sends its form: site.js)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        Select(self.driver.find_element(By.CSS_SELECTOR, "select[name=language]")).select_by_value(code)
        _wait(lambda: self.driver.execute_script("return document.documentElement.lang") == code, "the language")

    def log_in(self, username: str, password: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(self.base + "/accounts/login/")
        self.driver.find_element(By.NAME, "username").send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
        _wait(lambda: self.driver.find_elements(By.CSS_SELECTOR, "form[action$='/accounts/logout/']"), "logged in")


def test_no_page_breaks_the_content_security_policy(live_server, driver, client, user, redis_clean):
    catalog_load_demo()
    makeover_styles_load_demo()
    styles = diary_styles()
    client.force_login(user)
    finished = _submit_makeover(client)
    entry = write_entry(user, month_ago(), style=styles[0])
    worker = run_gpu_worker_burst()
    assert worker.returncode == 0, worker.stderr[-3000:]
    run_django_worker_burst()
    finished.refresh_from_db()
    assert finished.status == GenerationJob.Status.SUCCEEDED, (finished.error_code, finished.error_message)
    waiting = _submit_makeover(client)  # no worker runs now: it stays queued, its page polls
    product = Product.objects.order_by("pk").first()

    logged_out = [
        "/",
        "/accounts/login/",
        "/accounts/signup/",
        "/shop/",
        reverse("shop:detail", args=[product.pk]),
        "/api/docs/",
    ]
    logged_in = [
        "/",
        "/makeovers/new/",
        f"/makeovers/{finished.id}/",
        f"/makeovers/{waiting.id}/",
        "/makeovers/",
        "/diary/",
        "/diary/timeline/",
        "/diary/new/",
        f"/diary/{entry.id}/",
        "/studio/",
        "/studio/new/",
        "/studio/one-photo/new/",
        "/shop/",
        "/api/docs/",
    ]
    visit = Visit(driver, live_server.url)

    driver.set_window_size(*LAPTOP)
    for path in logged_out:
        visit.page(path, "en")
    visit.page("/accounts/login/", "en")
    driver.set_window_size(*PHONE)
    visit.switch_language("ko")
    for path in logged_out:
        visit.page(path, "ko")

    visit.log_in("mina", "correct-horse-battery")
    for path in logged_in:
        effects = visit.page(path, "ko")
        if path == f"/makeovers/{finished.id}/":
            assert effects["pins"], "the result has pins"
            assert all(effects["pins"]), "compare.js placed every pin"
            assert effects["sliders"][0].endswith("%"), effects["sliders"]
        if path == f"/makeovers/{waiting.id}/":
            assert len(effects["bars"]) == 1
        if path == "/makeovers/new/":
            assert effects["swatches"] or driver.find_elements("css selector", ".style-card img")

    driver.set_window_size(*LAPTOP)
    visit.page("/", "ko")
    visit.switch_language("en")
    for path in logged_in:
        visit.page(path, "en")
    assert len(visit.seen) == 2 * len(logged_out) + 2 + 2 * len(logged_in)
