"""The profile studio in a real browser (headless Chromium) against the whole stack: sign up, create
a dog, upload photos from the file input, see the verdicts, train, watch the training's step and
loss, find the model in "My models", then read the subject page in Korean on a 360-px phone.
Screenshots go to var/screenshots/studio-*.png (git-ignored) for people to look at."""

from __future__ import annotations

import pytest

from ontop.devstack import free_port
from tests.stack import Stack
from tests.test_browser import SCREENSHOTS, _shoot, _wait_for, browser  # noqa: F401 - the fixture
from tests.test_diary_browser import _sign_up, _switch_language
from tests.test_studio_web import image_bytes, subject_photo

pytestmark = pytest.mark.slow

PHONE = (360, 780)


def _overflow(driver) -> int:
    """How many pixels the page is wider than the window (0: nothing scrolls sideways)."""
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def _shoot_at(driver, name: str, size: tuple[int, int]) -> None:
    driver.set_window_size(*size)
    full = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(size[0], min(max(size[1], full + 120), 4000))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_a_person_trains_a_model_of_their_dog(browser, tmp_path):  # noqa: F811 - pytest fixture
    from PIL import ImageFilter
    from selenium.webdriver.common.by import By

    paths = []
    for seed in range(6):
        path = tmp_path / f"bori-{seed}.jpg"
        path.write_bytes(image_bytes(subject_photo(seed), quality=90))
        paths.append(path)
    blurry = tmp_path / "bori-blurry.jpg"
    blurry.write_bytes(image_bytes(subject_photo(9).filter(ImageFilter.GaussianBlur(4))))
    paths.append(blurry)
    # Files the studio refuses, each by its name, while it keeps the others.
    (tmp_path / "notimage.jpg").write_bytes(b"this is not a photo")
    (tmp_path / "empty.jpg").write_bytes(b"")
    refused = [tmp_path / "notimage.jpg", tmp_path / "empty.jpg"]

    stack = Stack(
        tmp_path,
        port=free_port(),
        pg_port=free_port(),
        redis_port=free_port(),
        ONTOP_STUDIO_TRAINING_STEPS="8",
        ONTOP_GPU_TRAIN_CHECKPOINT_EVERY="2",
    )
    try:
        stack.wait_ready()
        find = browser.find_element
        _sign_up(browser, stack.base)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

        find(By.LINK_TEXT, "My models").click()
        _wait_for(lambda: browser.find_elements(By.ID, "empty-library"), what="the empty library")
        _shoot(browser, "studio-library-empty")
        find(By.ID, "new-subject-link").click()
        _wait_for(lambda: browser.find_elements(By.ID, "new-subject"), what="the subject form")
        assert find(By.ID, "consent-box").is_displayed(), "a person needs consent"
        find(By.CSS_SELECTOR, ".kind-chip.kind-dog").click()
        assert not find(By.ID, "consent-box").is_displayed(), "a pet needs none"
        assert "until it has not been used for 90 days." in find(By.ID, "retention").text
        find(By.NAME, "name").send_keys("Bori")
        _shoot(browser, "studio-new")
        # A double click makes one subject.
        browser.execute_script(
            "const b = document.querySelector('#new-subject button[type=submit]'); b.click(); b.click();"
        )

        _wait_for(lambda: browser.find_elements(By.ID, "upload-form"), what="the subject page")
        subject_url = browser.current_url
        assert find(By.ID, "accepted-count").text == "0 of 5 photos accepted"
        assert not find(By.ID, "train-button").is_enabled()
        find(By.ID, "photo-input").send_keys("\n".join(str(p) for p in [*paths, *refused]))  # choosing uploads

        def checked() -> bool:
            try:
                photos = browser.find_elements(By.CSS_SELECTOR, "#photo-grid .photo")
                statuses = [p.get_attribute("data-status") for p in photos]
            except Exception:  # noqa: BLE001 - the page reloaded under us
                return False
            return len(photos) == 7 and "checking" not in statuses

        _wait_for(checked, timeout=240, what="the photos' verdicts")
        statuses = [
            p.get_attribute("data-status") for p in browser.find_elements(By.CSS_SELECTOR, "#photo-grid .photo")
        ]
        assert statuses == ["accepted"] * 6 + ["rejected"]
        assert find(By.CSS_SELECTOR, ".photo.rejected .photo-reason").text == "This photo is blurry."
        assert find(By.ID, "accepted-count").text == "6 photos accepted: ready to train."
        # The page reloaded when the check was done: the refused files are still named.
        assert find(By.ID, "upload-errors").text.splitlines() == [
            "notimage.jpg: This file is not a photo we can read.",
            "empty.jpg: This file is empty.",
        ]
        browser.set_window_size(*PHONE)
        assert _overflow(browser) <= 0, "the subject page fits a 360-px phone"
        _shoot_at(browser, "studio-photos-360", PHONE)
        _shoot(browser, "studio-photos")

        find(By.ID, "train-button").click()
        seen_steps: list[str] = []
        seen_losses: list[str] = []
        seen_step_labels: list[str] = []
        shot = False

        def trained() -> bool:
            nonlocal shot
            try:
                panels = browser.find_elements(By.CSS_SELECTOR, ".training-panel")
                if panels:
                    step = panels[0].find_element(By.CSS_SELECTOR, ".job-step").text
                    if step:
                        seen_step_labels.append(step)
                    stage = panels[0].find_element(By.CSS_SELECTOR, ".job-stage").text
                    loss = panels[0].find_element(By.CSS_SELECTOR, ".job-loss").text
                    if "step" in stage:
                        seen_steps.append(stage)
                    if loss:
                        seen_losses.append(loss)
                        if not shot:
                            _shoot(browser, "studio-training")
                            shot = True
                return find(By.ID, "subject-status").get_attribute("class").endswith("ready")
            except Exception:  # noqa: BLE001 - the page reloaded under us (between a find and its read too)
                return False

        _wait_for(trained, timeout=420, what="the trained model")
        assert any(step.startswith("Training (step ") and step.endswith(" of 8)") for step in seen_steps), seen_steps
        assert seen_losses, "the loss was shown while it trained"
        assert all(loss.startswith("Loss: ") for loss in seen_losses), seen_losses
        assert any(label.startswith("Step ") and label.endswith(" of 8") for label in seen_step_labels), (
            seen_step_labels
        )
        assert browser.find_elements(By.CSS_SELECTOR, "#models .preview-grid img")
        assert not browser.find_elements(By.CSS_SELECTOR, "#photo-grid .photo"), "the photos were deleted"
        assert find(By.ID, "photos-note").text == (
            "Your photos were deleted after training, as promised. To train again, upload new photos."
        )
        models, photos = find(By.ID, "models"), find(By.ID, "photos")
        assert models.location["y"] < photos.location["y"], "the model comes first"
        browser.set_window_size(1280, 900)
        widths = {name: find(By.ID, name).size["width"] for name in ("models", "photos", "train", "history")}
        assert len(set(widths.values())) == 1, widths
        _shoot(browser, "studio-subject-ready")

        find(By.LINK_TEXT, "← My models").click()
        _wait_for(
            lambda: browser.find_elements(By.CSS_SELECTOR, ".subject-card[data-status=ready]"), what="the library"
        )
        assert len(browser.find_elements(By.CSS_SELECTOR, ".subject-card")) == 1, "a double click made one subject"
        images = browser.find_elements(By.CSS_SELECTOR, ".subject-card .preview-grid img")
        assert len(images) == 4, "a preview every 2 of 8 steps"
        _wait_for(
            lambda: all(browser.execute_script("return arguments[0].naturalWidth", image) for image in images),
            what="the previews to load",
        )
        assert "AI-generated" in find(By.CSS_SELECTOR, ".subject-card .ai-label").text
        _shoot(browser, "studio-library")
        find(By.CSS_SELECTOR, ".model-link").click()
        _wait_for(lambda: browser.find_elements(By.ID, "model-facts"), what="the model page")
        assert find(By.ID, "model-steps").text == "8"
        _shoot(browser, "studio-model")

        browser.get(subject_url)
        _switch_language(browser, "ko")
        _wait_for(lambda: "내 모델" in browser.page_source and "학습 기록" in browser.page_source, what="Korean")
        assert find(By.ID, "subject-status").text == "준비 완료"
        assert find(By.ID, "accepted-count").text == "새 학습에 쓸 사진이 아직 없어요."
        assert "대상" not in browser.page_source
        browser.set_window_size(*PHONE)
        assert _overflow(browser) <= 0, "the Korean subject page fits a 360-px phone"
        _shoot_at(browser, "studio-subject-ko-360", PHONE)
    finally:
        stack.stop()
    assert (SCREENSHOTS / "studio-subject-ko-360.png").exists()
