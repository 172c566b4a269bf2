"""Re-extract every Korean catalogue, fill it, compile it, and list what is still untranslated.

    .venv/bin/python tools/i18n_sync.py [translations.json ...]

Each JSON file maps an English msgid to its Korean text (plural msgids map to one Korean string:
Korean has one form). Entries makemessages marks fuzzy (its guesses) are cleared unless a file
translates them. Runs under a lock (var/.i18n.lock), so two people can run it at once. Exit status 1 when any
msgid is left untranslated.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# (directory makemessages runs in, extra arguments): the project catalogue, then each app's own.
CATALOGUES = [
    (ROOT, ["--ignore=.venv", "--ignore=diary", "--ignore=studio", "--ignore=var", "--ignore=tools"]),
    (ROOT / "diary", []),
    (ROOT / "studio", []),
]


def _makemessages(directory: Path, extra: list[str]) -> None:
    env = {**os.environ, "DEBUG": "true"}
    subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "makemessages", "-l", "ko", "--no-obsolete", *extra],
        cwd=directory,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _fill(po_path: Path, translations: dict[str, str]) -> list[str]:
    catalogue = polib.pofile(str(po_path), wrapwidth=0)
    missing = []
    for entry in catalogue:
        if entry.obsolete:
            continue
        if "fuzzy" in entry.flags:
            entry.flags.remove("fuzzy")
            entry.previous_msgid = None
            entry.previous_msgid_plural = None
            entry.previous_msgctxt = None
            entry.msgstr = ""
            if entry.msgid_plural:
                entry.msgstr_plural = {0: ""}
        known = translations.get(entry.msgid)
        if entry.msgid_plural:
            if known and not entry.msgstr_plural.get(0):
                entry.msgstr_plural = {0: known}
            if not entry.msgstr_plural.get(0):
                missing.append(entry.msgid)
        else:
            if known and not entry.msgstr:
                entry.msgstr = known
            if not entry.msgstr:
                missing.append(entry.msgid)
    catalogue.save(str(po_path))
    subprocess.run(
        ["msgfmt", "-c", "-o", str(po_path.with_suffix(".mo")), str(po_path)], check=True, cwd=po_path.parent
    )
    return missing


def main(paths: list[str]) -> int:
    translations: dict[str, str] = {}
    for path in paths:
        translations.update(json.loads(Path(path).read_text(encoding="utf-8")))
    (ROOT / "var").mkdir(exist_ok=True)
    with open(ROOT / "var" / ".i18n.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing: list[str] = []
        for directory, extra in CATALOGUES:
            _makemessages(directory, extra)
            po_path = directory / "locale" / "ko" / "LC_MESSAGES" / "django.po"
            missing += [f"{po_path.relative_to(ROOT)}: {msgid!r}" for msgid in _fill(po_path, translations)]
    for line in missing:
        print("untranslated", line)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
