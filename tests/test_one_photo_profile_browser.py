"""The one-photo studio profile in a real browser (headless Chromium) on a 360-px phone, against the
whole stack (its GPU worker, tiny preset): sign up, see the empty list, refuse a form without
consent, drop... choose one photo, pick a tone and a backdrop, watch it paint, read the tone, mark
it a favourite, delete it. Nothing scrolls sideways. Screenshots: var/screenshots/one-photo-*.png."""

from __future__ import annotations

import pytest

from ontop.devstack import free_port
from tests.stack import Stack
from tests.test_browser import SCREENSHOTS, _wait_for, browser  # noqa: F401 - the fixture
from tests.test_diary_browser import _sign_up
from tests.test_one_photo_profile import person_photo_bytes
from tests.test_studio_browser import PHONE, _overflow, _shoot_at

pytestmark = pytest.mark.slow


def test_a_person_makes_a_profile_picture_on_a_phone(browser, tmp_path):  # noqa: F811 - pytest fixture
    pytest.importorskip("gpu_worker.workflows.one_photo_profile.workflow")
    from selenium.webdriver.common.by import By

    photo = tmp_path / "me.png"
    photo.write_bytes(person_photo_bytes())
    stack = Stack(tmp_path, port=free_port(), pg_port=free_port(), redis_port=free_port())
    try:
        stack.wait_ready()
        find = browser.find_element
        _sign_up(browser, stack.base)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.set_window_size(*PHONE)

        browser.get(stack.base + "/studio/one-photo/")
        _wait_for(lambda: browser.find_elements(By.ID, "empty-profiles"), what="the empty list")
        assert _overflow(browser) <= 0, "nothing scrolls sideways"
        find(By.ID, "new-profile-link").click()
        _wait_for(lambda: browser.find_elements(By.ID, "one-photo-form"), what="the form")
        assert _overflow(browser) <= 0, "nothing scrolls sideways"
        swatches = browser.find_elements(By.CSS_SELECTOR, ".background-swatch")
        assert len(swatches) == 5
        assert len({round(s.location["y"]) for s in swatches}) == 1, "the five backdrops fit in one row"
        _shoot_at(browser, "one-photo-new-phone", PHONE)

        # No consent: refused, nothing sent to the GPU, the photo must be chosen again.
        find(By.ID, "photo-input").send_keys(str(photo))
        _wait_for(lambda: find(By.ID, "photo-preview").is_displayed(), what="the chosen photo's preview")
        find(By.ID, "make-profile").click()
        _wait_for(lambda: browser.find_elements(By.ID, "consent-error"), what="the consent error")

        find(By.ID, "photo-input").send_keys(str(photo))
        find(By.CSS_SELECTOR, ".tone-card.tone-warm").click()
        browser.find_elements(By.CSS_SELECTOR, ".background-swatch")[2].click()  # sky blue
        find(By.NAME, "consent").click()
        # A double tap makes one profile.
        browser.execute_script("const b = document.getElementById('make-profile'); b.click(); b.click();")
        _wait_for(lambda: browser.find_elements(By.ID, "job") or browser.find_elements(By.ID, "picture"), what="it")
        _wait_for(lambda: browser.find_elements(By.ID, "tone-summary"), timeout=300, what="the finished picture")
        assert find(By.ID, "tone-summary").text == "Tone: warm (your choice)"
        assert "Sky blue" in find(By.ID, "facts").text
        assert find(By.ID, "ai-notice").text == "AI-generated: not for passports or identity documents."
        assert browser.execute_script("return document.getElementById('picture-image').naturalWidth") > 0
        assert _overflow(browser) <= 0, "nothing scrolls sideways"
        _shoot_at(browser, "one-photo-done-phone", PHONE)

        find(By.ID, "favourite").click()
        _wait_for(lambda: browser.find_elements(By.ID, "favourite-mark"), what="the favourite mark")
        browser.get(stack.base + "/studio/one-photo/")
        assert len(browser.find_elements(By.CSS_SELECTOR, ".one-photo-card")) == 1
        _shoot_at(browser, "one-photo-list-phone", PHONE)

        find(By.CSS_SELECTOR, ".one-photo-card-link").click()
        _wait_for(lambda: browser.find_elements(By.ID, "delete"), what="the profile page")
        browser.execute_script("window.confirm = () => true;")
        find(By.ID, "delete").click()
        _wait_for(lambda: browser.find_elements(By.ID, "empty-profiles"), what="the empty list again")
        assert "The picture and your photo were deleted." in browser.page_source
    finally:
        assert stack.stop() == 0
