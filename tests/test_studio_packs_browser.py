"""Profile packs in a real browser (headless Chromium) against the whole stack: a person trains a tiny
model of themselves, picks a concept and a pose, makes a pack of 2, watches the pictures appear,
marks a favourite and downloads the zip; then reads the pack page in Korean on a 360-px phone.
Screenshots go to var/screenshots/studio-pack-*.png (git-ignored)."""

from __future__ import annotations

import pytest

from ontop.devstack import free_port
from tests.stack import Stack
from tests.test_browser import SCREENSHOTS, _shoot, _wait_for, browser  # noqa: F401 - the fixture
from tests.test_diary_browser import _fetch_head, _sign_up, _switch_language
from tests.test_studio_browser import PHONE, _overflow, _shoot_at
from tests.test_studio_web import image_bytes, subject_photo

pytestmark = pytest.mark.slow


def test_a_person_makes_a_profile_pack(browser, tmp_path):  # noqa: F811 - pytest fixture
    from selenium.webdriver.common.by import By

    paths = []
    for seed in range(5):
        path = tmp_path / f"me-{seed}.jpg"
        path.write_bytes(image_bytes(subject_photo(seed), quality=90))
        paths.append(path)
    stack = Stack(
        tmp_path,
        port=free_port(),
        pg_port=free_port(),
        redis_port=free_port(),
        ONTOP_STUDIO_TRAINING_STEPS="2",
    )
    try:
        stack.wait_ready()
        find = browser.find_element
        _sign_up(browser, stack.base)
        browser.get(stack.base + "/studio/new/")
        find(By.NAME, "name").send_keys("Haneul")
        find(By.NAME, "consent").click()
        find(By.CSS_SELECTOR, "#new-subject button[type=submit]").click()
        _wait_for(lambda: browser.find_elements(By.ID, "upload-form"), what="the subject page")
        find(By.ID, "photo-input").send_keys("\n".join(str(p) for p in paths))

        def ready_to_train() -> bool:
            try:
                return find(By.ID, "train-button").is_enabled()
            except Exception:  # noqa: BLE001 - the page reloaded under us
                return False

        _wait_for(ready_to_train, timeout=240, what="five accepted photos")
        find(By.ID, "train-button").click()

        def trained() -> bool:
            try:
                return bool(browser.find_elements(By.ID, "make-pack-link"))
            except Exception:  # noqa: BLE001
                return False

        _wait_for(trained, timeout=420, what="the trained model")
        find(By.ID, "make-pack-link").click()
        _wait_for(lambda: browser.find_elements(By.ID, "pack-form"), what="the pack form")
        assert find(By.ID, "ai-notice").text == "AI-generated pictures: not for passports or identity documents."
        # The fairy tale offers three poses; the others are hidden.
        find(By.ID, "concept-fairy-tale").click()
        visible = [
            c.get_attribute("data-pose")
            for c in browser.find_elements(By.CSS_SELECTOR, ".pose-card")
            if c.is_displayed()
        ]
        assert visible == ["", "front", "three-quarter", "waving"]
        find(By.ID, "concept-studio-headshot").click()
        find(By.ID, "pose-front").click()
        size = find(By.NAME, "size")
        assert size.get_attribute("value") == "4", "the concept's pack size"
        size.clear()
        size.send_keys("2")
        browser.set_window_size(*PHONE)
        assert _overflow(browser) <= 0, "the pack form fits a 360-px phone"
        _shoot_at(browser, "studio-pack-form-360", PHONE)
        browser.set_window_size(1280, 900)
        find(By.ID, "make-pack").click()
        _wait_for(lambda: browser.find_elements(By.ID, "pictures"), what="the pack page")
        pack_url = browser.current_url
        seen_stages: list[str] = []

        def pictures_shown() -> bool:
            try:
                for stage in browser.find_elements(By.CSS_SELECTOR, ".portrait .job-stage"):
                    if stage.text:
                        seen_stages.append(stage.text)
                images = browser.find_elements(By.CSS_SELECTOR, "#pictures .portrait-frame img")
                return len(images) == 2 and all(
                    browser.execute_script("return arguments[0].naturalWidth", image) for image in images
                )
            except Exception:  # noqa: BLE001 - the page reloaded under us
                return False

        _wait_for(pictures_shown, timeout=420, what="both pictures")
        assert seen_stages, "each picture showed its stage while it was painted"
        _wait_for(lambda: "2 of 2 pictures done" in find(By.ID, "pack-done").text, what="the pack's progress")
        _shoot(browser, "studio-pack")
        find(By.CSS_SELECTOR, "#pictures .portrait .favourite-toggle").click()
        _wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#pictures .portrait.favourite"), what="the favourite")
        assert find(By.CSS_SELECTOR, ".portrait.favourite .favourite-toggle").get_attribute("aria-pressed") == "true"
        zip_link = find(By.ID, "download-zip")
        assert zip_link.is_displayed()
        assert _fetch_head(browser, zip_link.get_attribute("href")).startswith("PK\x03\x04"), "a zip file"

        browser.get(pack_url)
        _switch_language(browser, "ko")
        _wait_for(lambda: "사진 2장 중 2장 완성" in browser.page_source, what="Korean")
        assert find(By.ID, "ai-notice").text == "AI로 만든 사진이에요. 여권이나 신분증에는 쓸 수 없어요."
        browser.set_window_size(*PHONE)
        assert _overflow(browser) <= 0, "the Korean pack page fits a 360-px phone"
        _shoot_at(browser, "studio-pack-ko-360", PHONE)
    finally:
        stack.stop()
    assert (SCREENSHOTS / "studio-pack-ko-360.png").exists()
