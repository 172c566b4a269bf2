"""The desk makeover's dead ends in a real browser (Debian's headless Chromium) against the whole
stack, in English and Korean, with screenshots at phone and laptop widths in var/screenshots/:

a form error that keeps the photo, checkboxes with their own labels at 360 px, pins that never hide
each other and stay clickable, the slider dragged with a mouse and a finger, what the makeover was
asked for, the queue ("1 ahead of you"), "Starting", a lost connection and its recovery, the quota
reached (why the buttons are off, and when they come back in the reader's time zone), a cancelled
makeover started again, and "not a desk" with another photo instead of a retry.

One stack and one browser for the whole module (starting a stack costs most of a minute). The tests
run in file order and build on each other's makeovers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ontop.devstack import free_port
from tests.conftest import BASE_DIR
from tests.photos import make_desk_photo
from tests.stack import Stack
from tests.test_browser import _shoot, _wait_for, chromium_driver

pytestmark = pytest.mark.slow

# A page's status requests can be made to fail, or to answer a given state, from the test: what a
# dropped connection or a job at a given moment looks like to the page (nothing else is changed).
# The page's states are faked through the status JSON, so these pages follow it by polling (job.js's
# fallback when a browser has no EventSource); the stream itself is driven in test_progress_events.py.
FETCH_HOOK = """
(() => {
  window.EventSource = undefined;
  const real = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const mode = sessionStorage.getItem("test-fetch") || "";
    if (String(input).includes("/status/")) {
      if (mode === "fail") return Promise.reject(new TypeError("Failed to fetch"));
      if (mode.startsWith("{")) {
        return Promise.resolve(new Response(mode, {status: 200, headers: {"Content-Type": "application/json"}}));
      }
    }
    return real(input, init);
  };
})();
"""
# Words that may stay Latin on a Korean page: names and file formats.
LATIN_ALLOWED = {"OnTop", "AI", "JPEG", "PNG", "WebP", "HEIC", "MB", "GMT", "RGB", "UTC"}
LIMIT = 4


class Shared:
    """What one test leaves for the next (the module's makeovers)."""

    first_job = ""
    queued: list[str] = []


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    var = tmp_path_factory.mktemp("makeover-paths")
    ports = {"port": free_port(), "pg_port": free_port(), "redis_port": free_port()}
    stack = Stack(var, **ports, ONTOP_GPU_STEPS="6", ONTOP_DAILY_GENERATION_LIMIT=str(LIMIT))
    stack.var, stack.ports = var, ports
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def driver():
    browser = chromium_driver()
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FETCH_HOOK})
    yield browser
    browser.quit()


def _by():
    from selenium.webdriver.common.by import By

    return By


def _language(driver, code: str) -> None:
    driver.execute_script(
        "const s = document.querySelector('select[name=language]'); s.value = arguments[0]; s.form.submit();", code
    )
    _wait_for(lambda: driver.execute_script("return document.documentElement.lang") == code, what=f"lang {code}")


def _english_words(driver, selector: str) -> list[str]:
    texts = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText);", selector
    )
    words = re.findall(r"[A-Za-z]{2,}", " ".join(texts))
    return [word for word in words if word not in LATIN_ALLOWED]


def _fake_status(driver, value: str | dict | None) -> None:
    text = json.dumps(value) if isinstance(value, dict) else (value or "")
    driver.execute_script("sessionStorage.setItem('test-fetch', arguments[0]);", text)


def _status_json(driver, url: str) -> dict:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {headers: {Accept: 'application/json'}}).then(r => r.json()).then(done)"
        ".catch(e => done({error: String(e)}));",
        url,
    )


def _manage_shell(stack, code: str) -> None:
    """Run Python in the stack's own database (a job failed as the GPU would fail it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{stack.ports['pg_port']}/ontop",
        REDIS_URL=f"redis://127.0.0.1:{stack.ports['redis_port']}/0",
        MEDIA_ROOT=str(stack.var / "media"),
        ONTOP_VAR_DIR=str(stack.var),
        DJANGO_SETTINGS_MODULE="ontop.settings",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _workers(stack, *, suspended: bool) -> None:
    """RQ's own switch: while suspended, workers take no new jobs (they stay queued, in line)."""
    from redis import Redis
    from rq.suspension import resume, suspend

    connection = Redis(host="127.0.0.1", port=stack.ports["redis_port"])
    (suspend if suspended else resume)(connection)


def _choose_photo(driver, tmp_path, name: str = "desk.jpg") -> None:
    by = _by()
    photo = tmp_path / name
    photo.write_bytes(make_desk_photo((800, 600)))
    driver.find_element(by.NAME, "photo").send_keys(str(photo))


def _submit_new(driver) -> str:
    by = _by()
    driver.find_element(by.ID, "make").click()
    _wait_for(lambda: driver.find_elements(by.ID, "job"), what="the makeover page")
    return driver.current_url


# --- the form ----------------------------------------------------------------------------------------------


def test_checkboxes_sit_with_their_own_labels_at_360_px(stack, driver, tmp_path):
    by = _by()
    driver.get(stack.base + "/accounts/signup/")
    driver.find_element(by.NAME, "username").send_keys("dahye")
    driver.find_element(by.NAME, "email").send_keys("dahye@example.com")
    driver.find_element(by.NAME, "password1").send_keys("walnut-desk-lamp-42")
    driver.find_element(by.NAME, "password2").send_keys("walnut-desk-lamp-42")
    driver.find_element(by.CSS_SELECTOR, "form.panel button[type=submit]").click()
    _wait_for(lambda: "Welcome to OnTop" in driver.page_source, what="the welcome message")
    driver.set_window_size(360, 800)
    driver.get(stack.base + "/makeovers/new/")
    driver.find_element(by.CSS_SELECTOR, "details.prefs summary").click()
    boxes = driver.find_elements(by.CSS_SELECTOR, "input[type=checkbox]")
    assert len(boxes) == 2 * len(driver.find_elements(by.NAME, "include_categories"))
    for box in boxes:
        label = driver.find_element(by.CSS_SELECTOR, f"label[for='{box.get_attribute('id')}']")
        text = label.find_element(by.TAG_NAME, "span")
        b, t, whole = box.rect, text.rect, label.rect
        assert b["width"] <= 24, f"a checkbox is checkbox-sized: {b}"
        inside = whole["x"] <= b["x"] and b["x"] + b["width"] <= whole["x"] + whole["width"] + 0.5
        assert inside, f"the checkbox is inside its label: {b} {whole}"
        assert 0 <= t["x"] - (b["x"] + b["width"]) <= 16, f"its words are right next to it: {b} {t}"
        middle = b["y"] + b["height"] / 2
        assert t["y"] <= middle <= t["y"] + t["height"], f"on the same line: {b} {t}"
        label.click()
        assert box.is_selected(), "clicking the words ticks their own box"
        label.click()
    _shoot(driver, "makeover-form-checkboxes")


def test_a_form_error_keeps_the_photo_and_the_settings(stack, driver, tmp_path):
    by = _by()
    driver.get(stack.base + "/makeovers/new/")
    _choose_photo(driver, tmp_path)
    driver.find_elements(by.CSS_SELECTOR, ".style-card")[2].click()
    driver.find_element(by.CSS_SELECTOR, "details.prefs summary").click()
    driver.find_element(by.CSS_SELECTOR, "select[name=tone] option[value=warm]").click()
    driver.find_element(by.CSS_SELECTOR, "label[for=id_include_categories_0]").click()
    driver.find_element(by.CSS_SELECTOR, "label[for=id_avoid_categories_0]").click()  # the same one: a mistake
    driver.find_element(by.ID, "make").click()
    _wait_for(lambda: "cannot be both wanted and avoided" in driver.page_source, what="the form error")
    _shoot(driver, "makeover-form-error")
    preview = driver.find_element(by.ID, "photo-preview")
    assert "/makeovers/uploads/" in preview.get_attribute("src")
    _wait_for(lambda: driver.execute_script("return arguments[0].naturalWidth", preview) > 0, what="the thumbnail")
    assert driver.find_element(by.ID, "kept-upload").get_attribute("value")
    radios = driver.find_elements(by.CSS_SELECTOR, ".style-card input[type=radio]")
    assert [radio.is_selected() for radio in radios] == [False, False, True]
    assert driver.find_element(by.CSS_SELECTOR, "select[name=tone]").get_attribute("value") == "warm"
    assert driver.find_element(by.ID, "id_include_categories_0").is_selected()
    driver.find_element(by.CSS_SELECTOR, "label[for=id_avoid_categories_0]").click()  # fix it; no new photo
    Shared.first_job = _submit_new(driver)
    assert "/makeovers/" in Shared.first_job


# --- the result: pins, slider, what was asked for ----------------------------------------------------------


def _wait_succeeded(driver, url: str) -> None:
    by = _by()
    driver.get(url)
    _wait_for(lambda: driver.find_elements(by.ID, "compare"), timeout=240, what="the finished makeover")


def _pins(driver) -> list[dict]:
    return driver.execute_script(
        """return Array.from(document.querySelectorAll('#compare .pin')).map(pin => {
          const r = pin.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;
          const top = document.elementFromPoint(x, y);
          return {x, y, size: r.width, covered: pin.classList.contains('covered'),
                  clickable: top === pin || pin.contains(top), href: pin.getAttribute('href')};
        });"""
    )


def _free_height(driver, frame, starts: list[float]) -> float:
    """A height (fraction from the centre) where pressing at each of `starts` (fractions of the width)
    lands on the picture, not on a pin (a pin is a link: pressing it follows it)."""
    for offset in (-0.4, 0.4, -0.3, 0.3, -0.2, 0.2, 0.0):
        free = driver.execute_script(
            """const f = arguments[0], r = f.getBoundingClientRect();
            return arguments[1].every(x => { const e = document.elementFromPoint(r.left + r.width * x,
              r.top + r.height * (0.5 + arguments[2])); return e && f.contains(e) && !e.closest('.pin'); });""",
            frame,
            starts,
            offset,
        )
        if free:
            return offset
    raise AssertionError("no free spot on the picture")


def _range(driver) -> float:
    return float(driver.execute_script("return document.getElementById('compare-range').value"))


def test_pins_never_hide_each_other_and_stay_clickable(stack, driver):
    by = _by()
    _wait_succeeded(driver, Shared.first_job)
    driver.execute_script("document.getElementById('compare').scrollIntoView()")
    pins = _pins(driver)
    assert pins, "the planner's items are pinned"
    assert all(not pin["covered"] and pin["clickable"] for pin in pins), f"all pins show at first: {pins}"
    # Five pins on one point (what a planner gives for items on the same shelf).
    driver.execute_script(
        """const frame = document.querySelector('#compare .compare-frame');
        const first = frame.querySelector('.pin');
        frame.querySelectorAll('.pin').forEach((pin, i) => { if (i) pin.remove(); });
        for (let n = 2; n <= 5; n++) { const copy = first.cloneNode(true); copy.textContent = n;
          copy.setAttribute('href', '#item-' + n); frame.appendChild(copy); }
        frame.querySelectorAll('.pin').forEach(pin => { pin.dataset.x = '60'; pin.dataset.y = '50'; });
        document.getElementById('compare').dispatchEvent(new Event('compare:layout'));
        const r = document.getElementById('compare-range'); r.value = 0; r.dispatchEvent(new Event('input'));"""
    )
    pins = _pins(driver)
    assert len(pins) == 5
    for i, one in enumerate(pins):
        for other in pins[i + 1 :]:
            assert ((one["x"] - other["x"]) ** 2 + (one["y"] - other["y"]) ** 2) ** 0.5 >= one["size"], pins
    assert all(pin["clickable"] for pin in pins), pins
    # The slider's handle right at a pin's edge does not cover it.
    leftmost = min(pins, key=lambda pin: pin["x"])
    frame = driver.find_element(by.CSS_SELECTOR, "#compare .compare-frame").rect
    edge = (leftmost["x"] - leftmost["size"] / 2 - frame["x"]) / frame["width"] * 100 - 0.3
    driver.execute_script(
        "const r = document.getElementById('compare-range'); r.value = arguments[0];"
        "r.dispatchEvent(new Event('input'));",
        edge,
    )
    assert all(pin["clickable"] for pin in _pins(driver) if not pin["covered"])
    assert not any(pin["covered"] for pin in _pins(driver) if pin["x"] == leftmost["x"])
    # Past a pin, "before" covers that spot: the pin goes (it belongs to "after").
    driver.execute_script(
        "const r = document.getElementById('compare-range'); r.value = 100; r.dispatchEvent(new Event('input'));"
    )
    assert all(pin["covered"] and not pin["clickable"] for pin in _pins(driver))
    driver.execute_script(
        "const r = document.getElementById('compare-range'); r.value = 0; r.dispatchEvent(new Event('input'));"
    )
    target = _pins(driver)[3]
    driver.execute_script("document.elementFromPoint(arguments[0], arguments[1]).click()", target["x"], target["y"])
    _wait_for(lambda: driver.current_url.endswith("#item-4"), what="the pin's item")


def test_the_slider_drags_on_the_picture_with_a_mouse_and_a_finger(stack, driver):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    by = _by()
    _wait_succeeded(driver, Shared.first_job)
    frame = driver.find_element(by.CSS_SELECTOR, "#compare .compare-frame")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)
    width, height = frame.rect["width"], frame.rect["height"]
    y = int(_free_height(driver, frame, [0.3]) * height)
    # A mouse: press at 30 %, drag to 80 % (offsets are from the element's centre).
    ActionChains(driver).move_to_element_with_offset(frame, int(-0.2 * width), y).click_and_hold().move_by_offset(
        int(0.5 * width), 0
    ).release().perform()
    assert abs(_range(driver) - 80) <= 2, _range(driver)
    clip = driver.execute_script("return getComputedStyle(document.querySelector('.compare-before')).clipPath")
    assert re.match(r"inset\(0(px)? ", clip), clip
    # A finger on a phone-sized page: a horizontal swipe from 70 % to 15 %.
    driver.set_window_size(390, 844)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)
    width, height = frame.rect["width"], frame.rect["height"]
    y = int(_free_height(driver, frame, [0.7]) * height)
    finger = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    finger.pointer_action.move_to(frame, int(0.2 * width), y).pointer_down()
    for step in range(1, 12):
        finger.pointer_action.move_to(frame, int((0.2 - 0.55 * step / 11) * width), y)
    finger.pointer_action.pointer_up()
    finger.perform()
    assert abs(_range(driver) - 15) <= 3, _range(driver)
    assert driver.execute_script("return getComputedStyle(arguments[0]).touchAction", frame) == "pan-y"
    driver.set_window_size(1280, 900)


def test_the_result_says_what_was_asked_for_in_both_languages(stack, driver):
    by = _by()
    _wait_succeeded(driver, Shared.first_job)
    summary = driver.find_element(by.ID, "summary").text
    assert summary.split("\n")[:2] == ["Style", "Gamer neon"]
    assert "Colour tone\nWarm" in summary
    assert "Budget\nAny" in summary
    assert "More of\n" in summary
    assert driver.find_element(by.ID, "download").get_attribute("href").endswith("/image/result/?download=1")
    after = driver.find_element(by.CSS_SELECTOR, "#compare .compare-after")
    assert after.get_attribute("src").endswith("/image/result/?size=preview")
    _shoot(driver, "makeover-result-en")
    _language(driver, "ko")
    summary = driver.find_element(by.ID, "summary").text
    assert summary.split("\n")[:2] == ["스타일", "게이머 네온"]
    assert "색감\n따뜻한 톤" in summary
    checked = "#job, #summary, .actions, .slider-label, h1, h2, .item-label, .item-placement"
    assert _english_words(driver, checked) == []
    pins = driver.find_elements(by.CSS_SELECTOR, "#compare .pin")
    assert pins, "the planner's items are pinned"
    assert _english_words(driver, "#compare .pin") == [], "the pins' labels are Korean too"
    assert all(not (pin.get_attribute("aria-label") or "").isascii() for pin in pins)
    restyle = driver.find_elements(by.CSS_SELECTOR, ".restyle option")
    assert [option.text for option in restyle] == ["따뜻한 원목", "미니멀 화이트", "게이머 네온"]
    _shoot(driver, "makeover-result-ko")
    _language(driver, "en")


# --- waiting in line, starting, a lost connection ----------------------------------------------------------


def test_the_queue_the_start_and_a_lost_connection(stack, driver, tmp_path):
    by = _by()
    _workers(stack, suspended=True)
    # A worker already waiting for work takes the next job before it sees the switch: let it have one.
    driver.get(stack.base + "/makeovers/new/")
    _choose_photo(driver, tmp_path, "taken.jpg")
    _submit_new(driver)
    taken = driver.find_element(by.ID, "job").get_attribute("data-status-url")
    _wait_for(lambda: _status_json(driver, taken)["status"] != "queued", timeout=60, what="the worker's last job")
    for n in range(2):
        driver.get(stack.base + "/makeovers/new/")
        _choose_photo(driver, tmp_path, f"queued-{n}.jpg")
        Shared.queued.append(_submit_new(driver))
    driver.get(Shared.queued[1])
    status_url = driver.find_element(by.ID, "job").get_attribute("data-status-url")
    state = _status_json(driver, status_url)
    assert state["status"] == "queued"
    assert state["queue_position"] == 1, state
    expected = "1 ahead of you"
    if state["eta_seconds"]:
        eta = state["eta_seconds"]
        expected += " · less than a minute" if eta < 60 else f" · about {max(1, -(-eta // 60))} min"
    _wait_for(lambda: driver.find_element(by.ID, "job-eta").text == expected, what=f"'{expected}'")
    _shoot(driver, "makeover-queued-en")

    # The connection drops: the page says so, keeps trying, and recovers by itself.
    _fake_status(driver, "fail")
    line = driver.find_element(by.ID, "job-connection")
    _wait_for(lambda: line.is_displayed() and line.text == "Connection lost — reconnecting…", what="the lost line")
    _shoot(driver, "makeover-connection-lost-en")
    _fake_status(driver, None)
    _wait_for(lambda: not line.is_displayed(), timeout=30, what="the recovery")
    assert driver.find_element(by.ID, "job-eta").text == expected

    # Running, but no step done yet: "Starting", and no estimate that only climbs.
    base = dict(state, status="running", status_label="Running", queue_position=None, percent=0.0, step=0)
    for eta in (None, 30, 60, 90):
        _fake_status(driver, dict(base, stage="starting", stage_label="Starting", eta_seconds=eta))
        time.sleep(1.3)
        assert driver.find_element(by.ID, "job-stage").text == "Starting"
        assert driver.find_element(by.ID, "job-eta").text == ""
    painting = dict(base, stage="painting", stage_label="Painting (step 2 of 6)", percent=40.0, step=2, total_steps=6)
    _fake_status(driver, dict(painting, eta_seconds=100))
    _wait_for(lambda: driver.find_element(by.ID, "job-eta").text == "about 2 min left", what="the estimate")
    _fake_status(driver, dict(painting, eta_seconds=170))  # no progress, longer estimate: not shown
    time.sleep(1.3)
    assert driver.find_element(by.ID, "job-eta").text == "about 2 min left"
    _fake_status(driver, None)

    _language(driver, "ko")
    _wait_for(lambda: driver.find_element(by.ID, "job-eta").text.startswith("앞에 1개"), what="the Korean queue")
    _fake_status(driver, "fail")
    _wait_for(lambda: driver.find_element(by.ID, "job-connection").text.startswith("연결이 끊겼어요"), what="ko lost")
    assert _english_words(driver, "#job, #summary, h1") == []
    _shoot(driver, "makeover-queued-ko")
    _fake_status(driver, None)
    _language(driver, "en")


# --- the quota reached -------------------------------------------------------------------------------------


def test_at_zero_quota_the_page_says_why_and_when_in_the_readers_time_zone(stack, driver):
    by = _by()
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "America/New_York"})
    try:
        for language in ("en", "ko"):
            driver.get(stack.base + "/makeovers/new/")
            if language == "ko":
                _language(driver, "ko")
            assert driver.find_element(by.ID, "make").get_attribute("disabled") == "true"
            notice = driver.find_element(by.ID, "quota-notice")
            when = datetime.fromisoformat(notice.find_element(by.TAG_NAME, "time").get_attribute("datetime"))
            local = when.astimezone(ZoneInfo("America/New_York"))
            shown = notice.find_element(by.TAG_NAME, "time").text
            assert f"{local.hour % 12 or 12}:00" in shown, shown
            assert "Korea time" not in shown, "rewritten in the reader's zone"
            assert "한국 시간" not in shown
            if language == "en":
                assert notice.text.startswith(f"You have used all {LIMIT} of today's makeovers, so the buttons")
                assert "AM" in shown
            else:
                assert "오전" in shown
                assert _english_words(driver, "#quota-notice, #quota, #new-makeover, h1") == []
            _shoot(driver, f"makeover-quota-{language}")
            driver.get(Shared.first_job)
            assert driver.find_element(by.ID, "variation").get_attribute("disabled") == "true"
            assert driver.find_element(by.ID, "restyle").get_attribute("disabled") == "true"
            assert driver.find_element(by.ID, "quota-notice").is_displayed()
        _language(driver, "en")
    finally:
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})


# --- cancelled, and started again ----------------------------------------------------------------------------


def test_a_cancelled_makeover_can_be_started_again(stack, driver):
    by = _by()
    driver.get(Shared.queued[1])
    driver.find_element(by.ID, "cancel").click()
    _wait_for(lambda: driver.find_elements(by.ID, "job-cancelled"), what="the cancelled page")
    start = driver.find_element(by.ID, "start-again")
    assert start.get_attribute("disabled") is None, "a cancelled makeover gave its place back"
    _shoot(driver, "makeover-cancelled-en")
    _language(driver, "ko")
    assert driver.find_element(by.ID, "start-again").text == "다시 시작"
    assert _english_words(driver, "#job, #summary, h1") == []
    _shoot(driver, "makeover-cancelled-ko")
    _language(driver, "en")
    cancelled = driver.current_url
    driver.find_element(by.ID, "start-again").click()
    _wait_for(lambda: driver.current_url != cancelled and driver.find_elements(by.ID, "cancel"), what="a new job")
    assert driver.find_element(by.ID, "summary").text.split("\n")[:2] == ["Style", "Cozy wood"]


# --- not a desk ------------------------------------------------------------------------------------------------


def test_not_a_desk_offers_another_photo_with_the_tip(stack, driver):
    by = _by()
    job_id = Shared.queued[0].rstrip("/").rsplit("/", 1)[-1]
    _manage_shell(
        stack,
        f"from generation.services import job_fail; assert job_fail(job_id='{job_id}', code='not_a_desk', message='')",
    )
    for language in ("en", "ko"):
        driver.get(Shared.queued[0])
        if language == "ko":
            _language(driver, "ko")
        assert driver.find_element(by.ID, "photo-tip").is_displayed()
        assert not driver.find_elements(by.ID, "retry")
        another = driver.find_element(by.ID, "another-photo")
        if language == "en":
            assert another.text == "Use another photo"
            assert "doesn't look like a desk" in driver.find_element(by.ID, "job-error").text
        else:
            assert another.text == "다른 사진 쓰기"
            assert _english_words(driver, "#job, #summary, h1") == []
        _shoot(driver, f"makeover-not-a-desk-{language}")
    driver.find_element(by.ID, "another-photo").click()
    _wait_for(lambda: driver.find_elements(by.ID, "new-makeover"), what="the new makeover form")
    _language(driver, "en")
    _workers(stack, suspended=False)
