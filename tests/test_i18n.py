"""Every UI string has a Korean translation, and none is a left-over fuzzy guess."""

import re

from tests.conftest import BASE_DIR

PO = BASE_DIR / "locale" / "ko" / "LC_MESSAGES" / "django.po"


def _entries() -> list[tuple[str, str, str]]:
    text = PO.read_text(encoding="utf-8")
    entries = []
    for block in text.split("\n\n")[1:]:
        flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
        msgid = (
            "".join(re.findall(r'"(.*)"', block.split("msgid ", 1)[1].split("msgstr")[0])) if "msgid " in block else ""
        )
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[1])) if "msgstr" in block else ""
        entries.append((flags, msgid, msgstr))
    return entries


def test_everything_is_translated_and_nothing_is_fuzzy():
    entries = _entries()
    assert len(entries) > 100
    assert [m for flags, m, _ in entries if "fuzzy" in flags] == []
    assert [m for _, m, s in entries if m and not s] == []


def test_translations_keep_their_placeholders():
    for _, msgid, msgstr in _entries():
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", msgstr)), msgid


def test_the_desk_tip_and_the_hero_text_are_not_mixed_up():
    entries = {msgid: msgstr for _, msgid, msgstr in _entries()}
    hero = next(s for m, s in entries.items() if m.startswith("Upload a photo of your desk."))
    assert hero.startswith("책상 사진을 올려 주세요.")
    assert entries[
        "Tip: stand in front of your desk and include its whole surface, your monitor and keyboard."
    ].startswith("팁:")
