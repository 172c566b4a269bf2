"""An LLM writes the diary's prompt, through the official `openai` client (chat completions).

It reads the diary (Korean or English), the mood and the style hint, and must answer with JSON
that matches PROMPT_SCHEMA (structured output). The answer is never trusted: `validate_answer`
checks types, lengths, that it is English, that it fits the CLIP budget and that no phone
number, email, number or name from the diary slipped through. Timeouts and retries (with the
client's backoff on 429/5xx) are explicit; anything that goes wrong is a PromptWriterError,
and `write_prompt` then falls back to the local writer. The base URL is configurable, so a
local OpenAI-compatible server (e.g. Llama 3 behind vLLM or llama.cpp) works too.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from gpu_worker.config import OpenAISettings
from gpu_worker.llm import structured_answer
from gpu_worker.workflows.picture_diary.lexicon import normalise
from gpu_worker.workflows.picture_diary.prompt_writer import (
    BASE_NEGATIVE,
    DEFAULT_STYLE,
    MAX_CLIP_TOKENS,
    DiaryPrompt,
    PromptWriterError,
    fit_phrases,
    fit_to_token_budget,
    split_phrases,
)

MAX_PROMPT_WORDS, MAX_PROMPT_CHARS = 60, 500
MAX_NEGATIVE_WORDS, MAX_NEGATIVE_CHARS = 30, 300

PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt", "negative_prompt"],
    "properties": {
        "prompt": {
            "type": "string",
            "description": "English SDXL prompt: short comma-separated phrases, most important first, "
            f"at most {MAX_PROMPT_WORDS} words, no names, places or numbers",
        },
        "negative_prompt": {"type": "string", "description": "English, a few comma-separated things to keep out"},
    },
}

_EXAMPLES = [
    (
        {
            "diary": "오늘 지수랑 한강공원에서 자전거를 탔다. 바람이 시원해서 너무 좋았다!",
            "mood": "happy",
            "style_hint": "watercolor painting, soft pastel colours",
        },
        {
            "prompt": "two friends riding bicycles along a riverside park, gentle breeze, bright afternoon, "
            "cheerful happy mood",
            "negative_prompt": "crowd, cars",
        },
    ),
    (
        {
            "diary": "Worked late at the office on 5th Avenue again. Tom called at 555-0142 about the report. "
            "So tired, I just want to sleep.",
            "mood": "",
            "style_hint": "",
        },
        {
            "prompt": "a tired person working late at a desk in a quiet office, city lights through the window, "
            "night, weary mood",
            "negative_prompt": "bright daylight, crowd",
        },
    ),
]
SYSTEM_PROMPT = """You turn a personal diary entry (Korean or English) into a prompt for the SDXL text-to-image model,
to paint the picture of the day. The input is JSON: "diary", "mood" (how the writer felt, may be empty)
and "style_hint" (the art style, may be empty).
Rules:
- Write English only, even when the diary is Korean.
- Keep what can be painted: the scene, the people (as roles like "a friend" or "their mother"), what
  they do, the weather, the time of day and the mood. A given "mood" sets the atmosphere.
- Leave out every private detail: names of people, names of places, addresses, phone numbers, emails,
  account numbers and any other numbers.
- "prompt": short comma-separated phrases, most important first (the people and what they do, the
  scene, the mood, then weather and light), at most 60 words. Do not name an art style: the style
  hint is appended for you; only let it guide your wording.
- "negative_prompt": a few comma-separated things to keep out of the picture, at most 15 words.
Answer only with the JSON object.
""" + "".join(
    f"\nExample input: {json.dumps(given, ensure_ascii=False)}\nExample output: {json.dumps(answer)}\n"
    for given, answer in _EXAMPLES
)

# Private details the model must not see more of than it needs, nor repeat.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_LONG_NUMBER = re.compile(r"\d{4,}")
_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})
# Capitalised words that are not private, so an answer may repeat them from the diary.
_COMMON_CAPITALISED = frozenset(
    [
        "I",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Christmas",
        "Halloween",
        "Easter",
        "Korean",
        "English",
        "Korea",
        "OK",
    ]
)


def redact(text: str) -> str:
    """The diary with emails, links, phone and other long numbers replaced: the model needs none of them."""
    text = _EMAIL.sub("[email]", text)
    text = _URL.sub("[link]", text)
    text = _PHONE.sub(lambda m: "[number]" if sum(ch.isdigit() for ch in m.group()) >= 7 else m.group(), text)
    return _LONG_NUMBER.sub("[number]", text)


def _names_in(diary: str) -> set[str]:
    """Title-case words inside an English sentence of the diary: most likely names of people or places."""
    names = set()
    for match in re.finditer(r"\b[A-Z][a-z]+\b", diary):
        before = diary[: match.start()].rstrip(" \"'(")
        if before and before[-1] not in ".!?\n" and match.group() not in _COMMON_CAPITALISED:
            names.add(match.group())
    return names


def _english(value: Any, field: str, *, max_words: int, max_chars: int, required: bool) -> str:
    if not isinstance(value, str):
        raise PromptWriterError(f"the answer is out of schema: {field} must be a string")
    if required and not value.strip():
        raise PromptWriterError(f"the answer is out of schema: {field} must not be empty")
    value = " ".join(value.translate(_TYPOGRAPHY).split())
    # "café" → "cafe"; what is still not ASCII afterwards (Korean, CJK, emoji) is not English.
    value = "".join(ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch))
    if not value.isascii() or not value.isprintable():
        raise PromptWriterError(f"the answer is out of schema: {field} must be English")
    if len(value.split()) > max_words:
        raise PromptWriterError(f"the answer is out of schema: {field} is longer than {max_words} words")
    if len(value) > max_chars:
        raise PromptWriterError(f"the answer is out of schema: {field} is longer than {max_chars} characters")
    return value


def _check_private(value: str, field: str, names: set[str]) -> None:
    # The reason names the kind of detail only: it is stored with the result, the detail must not be.
    if "@" in value:
        raise PromptWriterError(f"the answer leaks private details: an email address or handle in {field}")
    if _URL.search(value):
        raise PromptWriterError(f"the answer leaks private details: a web address in {field}")
    phone = _PHONE.search(value)
    if phone and sum(ch.isdigit() for ch in phone.group()) >= 7:
        raise PromptWriterError(f"the answer leaks private details: a phone number in {field}")
    if _LONG_NUMBER.search(value):
        raise PromptWriterError(f"the answer leaks private details: a number in {field}")
    if names.intersection(re.findall(r"\b[A-Z][a-z]+\b", value)):
        raise PromptWriterError(f"the answer leaks private details: a name from the diary in {field}")


def validate_answer(data: Any, *, diary: str, style: list[str]) -> tuple[list[str], list[str], str]:
    """The answer's prompt phrases and the style's that fit the CLIP budget together, and its negative prompt."""
    if not isinstance(data, dict):
        raise PromptWriterError("the answer is out of schema: it must be a JSON object")
    extra = set(data) - set(PROMPT_SCHEMA["properties"])
    if extra:
        # Only names that look like field names are quoted: the reason is stored, model text is not.
        named = sorted(key for key in extra if re.fullmatch(r"[a-z_]{1,30}", key))
        raise PromptWriterError(f"the answer is out of schema: unexpected {', '.join(named) or 'fields'}")
    prompt = _english(
        data.get("prompt"), "prompt", max_words=MAX_PROMPT_WORDS, max_chars=MAX_PROMPT_CHARS, required=True
    )
    negative = _english(
        data.get("negative_prompt"),
        "negative_prompt",
        max_words=MAX_NEGATIVE_WORDS,
        max_chars=MAX_NEGATIVE_CHARS,
        required=False,
    )
    names = _names_in(diary)
    _check_private(prompt, "prompt", names)
    _check_private(negative, "negative_prompt", names)
    phrases = split_phrases(prompt)
    if not phrases:
        raise PromptWriterError("the answer is out of schema: prompt must not be empty")
    kept, style = fit_phrases(phrases, style, MAX_CLIP_TOKENS)
    if not kept:
        raise PromptWriterError(
            f"the answer is out of schema: its first phrase does not fit in {MAX_CLIP_TOKENS} tokens"
        )
    return kept, style, negative


class OpenAIWriter:
    name = "openai"

    def __init__(self, settings: OpenAISettings) -> None:
        self.settings = settings

    def write(self, *, text: str, mood: str, style_prompt: str, style_negative: str) -> DiaryPrompt:
        diary = normalise(text)
        style = split_phrases(style_prompt or DEFAULT_STYLE)
        request = {"diary": redact(diary), "mood": mood, "style_hint": ", ".join(style)}
        data = structured_answer(
            self.settings,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(request, ensure_ascii=False)},
            ],
            schema_name="diary_picture_prompt",
            schema=PROMPT_SCHEMA,
            temperature=0.2,
            error=PromptWriterError,
        )
        kept, style, negative = validate_answer(data, diary=diary, style=style)
        return DiaryPrompt(
            prompt=", ".join(kept + style),
            negative_prompt=fit_to_token_budget(f"{BASE_NEGATIVE}, {negative}", keep=style_negative),
            writer=f"openai:{self.settings.openai_model}",
            fallback_reason=None,
            keywords=(),
        )
