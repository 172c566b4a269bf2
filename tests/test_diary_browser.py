"""The picture diary in a real browser (headless Chromium) against the whole stack: sign up, write
today's entry, watch it being painted, find it in the calendar and the timeline, print the month,
edit it, read it in Korean, delete it. Screenshots at phone and laptop widths go to
var/screenshots/diary-*.png (git-ignored) for people to look at."""

from __future__ import annotations

import datetime

import pytest

from ontop.devstack import free_port
from tests.stack import Stack
from tests.test_browser import SCREENSHOTS, _shoot, _wait_for, browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _sign_up(driver, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/accounts/signup/")
    driver.find_element(By.NAME, "username").send_keys("haneul")
    driver.find_element(By.NAME, "email").send_keys("haneul@example.com")
    driver.find_element(By.NAME, "password1").send_keys("river-bike-sunset-7")
    driver.find_element(By.NAME, "password2").send_keys("river-bike-sunset-7")
    driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]").click()
    _wait_for(lambda: "Welcome to OnTop" in driver.page_source, what="the welcome message")


def _switch_language(driver, code: str) -> None:
    driver.execute_script(
        "const s = document.querySelector('select[name=language]'); s.value = arguments[0]; s.form.submit();", code
    )


def _fetch_head(driver, url: str) -> str:
    """The first bytes of a same-origin download, fetched with the browser's own session."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.arrayBuffer())"
        ".then(b => done(String.fromCharCode(...new Uint8Array(b.slice(0, 5)))))"
        ".catch(e => done('error ' + e));",
        url,
    )


def test_a_person_keeps_a_picture_diary(browser, tmp_path):  # noqa: F811 - pytest fixture
    from selenium.webdriver.common.by import By

    stack = Stack(tmp_path, port=free_port(), pg_port=free_port(), redis_port=free_port(), ONTOP_GPU_STEPS="12")
    try:
        stack.wait_ready()
        find = browser.find_element
        _sign_up(browser, stack.base)

        find(By.LINK_TEXT, "My diary").click()
        _wait_for(lambda: browser.find_elements(By.ID, "calendar"), what="the calendar")
        assert "No diary entries this month." in browser.page_source
        _shoot(browser, "diary-calendar-empty")

        find(By.ID, "write-today").click()
        _wait_for(lambda: browser.find_elements(By.ID, "new-entry"), what="the diary form")
        assert "5 of 5 diary pictures left today." in find(By.ID, "quota").text
        find(By.NAME, "text").send_keys("Rode my bike along the Han river at sunset. The sky turned pink.")
        assert find(By.ID, "text-count").text == "64 / 2,000"
        find(By.XPATH, "//label[contains(@class,'mood-chip')][contains(., 'Happy')]").click()
        style_cards = browser.find_elements(By.CSS_SELECTOR, ".style-card")
        assert len(style_cards) == 5
        style_cards[2].click()  # webtoon
        find(By.CSS_SELECTOR, ".shape-chip.shape-portrait").click()
        _shoot(browser, "diary-new")
        find(By.CSS_SELECTOR, "#new-entry button[type=submit]").click()

        _wait_for(lambda: browser.find_elements(By.ID, "entry"), what="the entry page")
        entry_url = browser.current_url
        seen: list[float] = []
        shot_progress = False

        def painted() -> bool:
            nonlocal shot_progress
            done = bool(browser.find_elements(By.ID, "picture-image"))
            bars = browser.find_elements(By.CSS_SELECTOR, "[role=progressbar]")
            if bars:
                try:
                    seen.append(float(bars[0].get_attribute("aria-valuenow") or 0))
                except Exception:  # noqa: BLE001 - the page reloaded under us
                    return False
                if not shot_progress and 0 < seen[-1] < 100:
                    _shoot(browser, "diary-progress")
                    shot_progress = True
            return done

        _wait_for(painted, timeout=180, what="the painted picture")
        assert any(0 < value < 100 for value in seen), f"the bar moved while painting: {seen}"
        assert seen == sorted(seen), "the bar never goes backwards"
        image = find(By.ID, "picture-image")
        _wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth", image), what="the image")
        width, height = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", image)
        assert height > width, "portrait was picked"
        assert "😊 Happy" in find(By.ID, "mood").text
        _shoot(browser, "diary-entry")

        today = datetime.date.today()  # the stack and this test share the machine's clock
        find(By.PARTIAL_LINK_TEXT, "←").click()
        _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#calendar .has-entry img"), what="the thumbnail")
        cells = browser.find_elements(By.CSS_SELECTOR, "#calendar .has-entry")
        assert len(cells) == 1
        assert cells[0].get_attribute("data-date") in {today.isoformat(), (today + datetime.timedelta(1)).isoformat()}
        _shoot(browser, "diary-calendar")

        export = find(By.ID, "export").get_attribute("href")
        assert _fetch_head(browser, export) == "%PDF-"

        find(By.LINK_TEXT, "Timeline").click()
        _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".timeline-entry img"), what="the timeline")
        _shoot(browser, "diary-timeline")

        browser.get(entry_url)
        find(By.ID, "edit").click()
        text = _wait_for(lambda: browser.find_elements(By.NAME, "text"), what="the edit form")[0]
        text.clear()
        text.send_keys("강변을 따라 자전거를 탔다. 하늘이 분홍빛으로 물들었다.")
        find(By.ID, "save").click()
        _wait_for(lambda: browser.find_elements(By.ID, "outdated"), what="the saved entry")
        assert "강변을 따라 자전거를 탔다." in find(By.ID, "entry-text").text
        assert browser.find_elements(By.ID, "picture-image"), "saving text keeps the picture"
        _shoot(browser, "diary-edited")

        _switch_language(browser, "ko")
        _wait_for(lambda: "다른 그림" in browser.page_source, what="the Korean entry page")
        assert "😊 행복해요" in find(By.ID, "mood").text
        _shoot(browser, "diary-entry-ko")
        browser.get(stack.base + "/diary/")
        _wait_for(lambda: browser.find_elements(By.ID, "calendar"), what="the Korean calendar")
        assert "이번 달 인쇄하기 (PDF)" in browser.page_source
        _shoot(browser, "diary-calendar-ko")
        browser.get(stack.base + "/diary/new/")
        _wait_for(lambda: "오늘 어떤 일이 있었나요?" in browser.page_source, what="the Korean form")
        _shoot(browser, "diary-new-ko")
        browser.get(stack.base + "/diary/timeline/")
        _wait_for(lambda: browser.find_elements(By.ID, "timeline"), what="the Korean timeline")
        _shoot(browser, "diary-timeline-ko")

        browser.get(entry_url)
        _wait_for(lambda: browser.find_elements(By.ID, "delete"), what="the entry page")
        find(By.ID, "delete").click()
        browser.switch_to.alert.accept()
        _wait_for(lambda: "이번 달에는 아직 일기가 없어요." in browser.page_source, what="the empty calendar")
        assert "일기와 그림을 삭제했어요." in browser.page_source
    finally:
        stack.stop()
    assert (SCREENSHOTS / "diary-entry-phone.png").exists()
