"""Every UI string has a Korean translation, and none is a left-over fuzzy guess."""

import gettext
import re

from tests.conftest import BASE_DIR

PO = BASE_DIR / "locale" / "ko" / "LC_MESSAGES" / "django.po"
# The project's catalogue and every app's own (a product app may keep its strings in <app>/locale).
ALL_PO = sorted(
    p for p in BASE_DIR.glob("**/locale/ko/LC_MESSAGES/django.po") if ".venv" not in p.parts and "var" not in p.parts
)


def _entries(po=PO) -> list[tuple[str, str, str]]:
    text = po.read_text(encoding="utf-8")
    entries = []
    for block in text.split("\n\n")[1:]:
        flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
        if context := re.search(r'^msgctxt "(.*)"$', block, re.MULTILINE):
            flags += f" msgctxt {context[1]}"
        if "msgid_plural" in block:  # Korean has one plural form: check the singular id against msgstr[0]
            singular = block.split("msgid ", 1)[1].split("msgid_plural")[0]
            msgid = "".join(re.findall(r'"(.*)"', singular))
            plural = "".join(re.findall(r'"(.*)"', block.split("msgid_plural", 1)[1].split("msgstr")[0]))
            msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr[0]", 1)[1].split("msgstr[")[0]))
            entries.append((flags + " singular", msgid, msgstr))
            entries.append((flags + " plural", plural, msgstr))
            continue
        msgid = (
            "".join(re.findall(r'"(.*)"', block.split("msgid ", 1)[1].split("msgstr")[0])) if "msgid " in block else ""
        )
        msgstr = "".join(re.findall(r'"(.*)"', block.split("msgstr", 1)[1])) if "msgstr" in block else ""
        entries.append((flags, msgid, msgstr))
    return entries


def test_everything_is_translated_and_nothing_is_fuzzy():
    assert len(_entries()) > 100
    for po in ALL_PO:
        entries = _entries(po)
        assert [m for flags, m, _ in entries if "fuzzy" in flags] == [], po
        assert [m for _, m, s in entries if m and not s] == [], po


def test_every_catalogue_is_compiled_from_its_current_text():
    """The .mo Django reads says what the .po says (a forgotten compilemessages shows English)."""
    for po in ALL_PO:
        with po.with_suffix(".mo").open("rb") as handle:
            compiled = gettext.GNUTranslations(handle)
        stale = []
        for flags, msgid, msgstr in _entries(po):
            if not msgid or "plural" in flags or "singular" in flags or "\\" in msgid + msgstr:
                continue
            context = re.search(r"msgctxt (\S+)", flags)
            found = compiled.pgettext(context[1], msgid) if context else compiled.gettext(msgid)
            if found != msgstr:
                stale.append(msgid)
        assert stale == [], f"{po.with_suffix('.mo')} is stale: run compilemessages ({stale[:3]})"


def test_translations_keep_their_placeholders():
    for po in ALL_PO:
        for flags, msgid, msgstr in _entries(po):
            if "singular" in flags:  # Korean's one form follows the plural id
                continue
            assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", msgstr)), msgid


def test_the_desk_tip_and_the_hero_text_are_not_mixed_up():
    entries = {msgid: msgstr for _, msgid, msgstr in _entries()}
    hero = next(s for m, s in entries.items() if m.startswith("Upload a photo of your desk."))
    assert hero.startswith("책상 사진을 올려 주세요.")
    assert entries[
        "Tip: stand in front of your desk and include its whole surface, your monitor and keyboard."
    ].startswith("팁:")


def _korean(text: str) -> bool:
    return any("\uac00" <= character <= "\ud7a3" for character in text)


def test_every_error_code_and_stage_label_of_every_product_reads_in_both_languages(db):
    """What a person reads about their job, walked code by code: each workflow's own error codes, the
    engine's, each progress stage and the generic stages. English in English, Korean in Korean (an
    untranslated string shows English on the Korean page and fails here)."""
    from django.utils import translation

    from generation.handlers import GENERIC_ERROR_MESSAGES, handlers
    from generation.models import GenerationJob
    from generation.selectors import GENERIC_STAGE_LABELS, job_error_message, stage_label
    from gpu_worker.contract import ErrorCode

    checked = 0
    for handler in handlers():
        contract = handler.contract
        codes = [*ErrorCode, *(contract.errors or ())]
        stages = [*contract.stages, *GENERIC_STAGE_LABELS]
        for language, readable in (("en", lambda text: not _korean(text)), ("ko", _korean)):
            with translation.override(language):
                for code in codes:
                    message = job_error_message(GenerationJob(kind=contract.kind, error_code=str(code)))
                    assert message, (contract.kind, code)
                    assert readable(message), (language, contract.kind, code, message)
                    checked += 1
                for stage in stages:
                    label = stage_label(contract.kind, str(stage))
                    if stage in ("done",) or label:  # a stage may be silent, never untranslated
                        assert readable(label), (language, contract.kind, stage, label)
                        checked += 1
                painting = stage_label(contract.kind, str(next(iter(contract.stages))), 3, 30)
                assert painting, contract.kind
                assert readable(painting), (language, contract.kind, painting)
            own = set(handler.error_messages()) | set(GENERIC_ERROR_MESSAGES)
            missing = {str(code) for code in (contract.errors or ())} - {str(code) for code in own}
            assert not missing, f"{contract.kind}: no message for {sorted(missing)}"
    assert checked > 200
