"""The picture diary's prompt writer: a diary entry becomes an English SDXL prompt and negative prompt.

Two writers behind `write_prompt`, like the desk planner: `OpenAIWriter` (an LLM through the
official `openai` client, any OpenAI-compatible server) when an API key is configured, and the
deterministic `LocalWriter` otherwise. A failing OpenAI call falls back to the local writer, and
the result says why. The prompt keeps the scene, the people and the mood, and drops private
details (names, places, phone numbers, emails, numbers).

Both writers' outputs are fitted to CLIP's 75-token window (77 with the start and end markers;
SDXL's text encoders silently cut the rest). The style hint is the one part that is never
trimmed; everything else is ordered by priority and trimmed from the end, whole phrases only.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from functools import cache

from gpu_worker.config import OpenAISettings
from gpu_worker.contract.picture_diary import MAX_TEXT_CHARS, MOODS
from gpu_worker.workflows.picture_diary.lexicon import MOOD_PHRASES, Concept, find_concepts

logger = logging.getLogger(__name__)

MAX_CLIP_TOKENS = 75
DEFAULT_STYLE = "hand-drawn picture diary illustration, soft colours"  # when the job names no style
# Text first: SDXL likes to paint lettering, and a diary's names must not appear as text either.
BASE_NEGATIVE = "text, letters, watermark, signature, blurry, low quality, deformed, bad anatomy, extra fingers"
GENERIC_SUBJECT = "a quiet everyday moment"
GENERIC_SCENE = "a person by a window at home"
GENERIC_LIGHT = "soft natural light"
MAX_PEOPLE, MAX_ACTIVITIES, MAX_WEATHER = 2, 2, 2


class PromptWriterError(Exception):
    """The writer could not produce a valid prompt (the caller falls back to the local writer)."""


@dataclass(frozen=True)
class DiaryPrompt:
    prompt: str
    negative_prompt: str
    writer: str  # "local" or "openai:<model>"
    fallback_reason: str | None  # why the OpenAI writer was not used, None if it was used or no key configured
    keywords: tuple[str, ...]  # the lexicon concepts the prompt was built from (local), or () for openai


# ---- the CLIP token budget -----------------------------------------------------------------------

# CLIP's pre-tokenizer splits lower-cased text into letter runs, single digits and runs of other
# characters; BPE then splits each piece into tokens of at least one byte.
_PIECES = re.compile(r"[^\W\d_]+|\d|[^\w\s]|_")
_VOWELS = re.compile(r"[aeiouy]", re.IGNORECASE)


def estimate_clip_tokens(text: str) -> int:
    """An upper bound on the CLIP BPE tokens of English `text` (without the start and end markers).

    Without the vocabulary the only exact bound is one token per byte, which would leave room
    for a dozen words. The rule here is tighter but still conservative for English:
    - every digit is one token (CLIP splits numbers into digits: exact);
    - every other non-letter character is one token per byte (a run of punctuation is at most
      that; usually one);
    - an ASCII word of n letters is ceil(n / 3) tokens. CLIP's 49k-token vocabulary was learnt
      on English captions: common words of up to 3 letters are one token, longer common words
      one or two ("watercolor", "atmosphere" are single tokens). Checked against the real
      vocabulary (openai/CLIP's bpe_simple_vocab_16e6), the rule bounds 99% of 3,300 English
      words (the misses are rarities like "ptarmigan", one token over) and every phrase the local
      writer can emit, and overestimates whole prompts about 2x, so a rare word's extra token is
      paid for many times over;
    - a word with no vowel (an abbreviation like "ktx", "cctv") is one token per letter, and a
      non-ASCII word one token per UTF-8 byte: BPE knows few of those as whole words.
    """
    total = 0
    for piece in _PIECES.findall(text):
        if piece.isdigit() and len(piece) == 1:
            total += 1
        elif piece[0].isalpha() and piece.isascii():
            total += math.ceil(len(piece) / 3) if _VOWELS.search(piece) else len(piece)
        else:
            total += len(piece.encode("utf-8"))
    return total


def split_phrases(text: str) -> list[str]:
    return [" ".join(part.split()) for part in text.split(",") if part.strip()]


def fit_phrases(phrases: list[str], keep: list[str], limit: int) -> tuple[list[str], list[str]]:
    """The longest prefix of `phrases` that fits next to `keep`, and `keep` (itself trimmed only if alone too long)."""
    seen = {phrase.lower() for phrase in keep}
    unique = []
    for phrase in phrases:  # a phrase the style already says, or said twice, costs tokens for nothing
        if phrase.lower() not in seen:
            seen.add(phrase.lower())
            unique.append(phrase)
    while keep and estimate_clip_tokens(", ".join(keep)) > limit:
        keep = keep[:-1]
    kept = list(unique)
    while kept and estimate_clip_tokens(", ".join(kept + keep)) > limit:
        kept.pop()
    return kept, keep


def fit_to_token_budget(prompt: str, limit: int = MAX_CLIP_TOKENS, *, keep: str = "") -> str:
    """`prompt` with whole trailing comma-separated phrases dropped until `prompt, keep` fits in `limit` tokens.

    Callers order `prompt` by priority (most important first), so the least important go first.
    `keep` (the style hint) is appended and never dropped, unless it alone is over the limit;
    a phrase is never cut in the middle, and repeated phrases are dropped.
    """
    kept, keep_phrases = fit_phrases(split_phrases(prompt), split_phrases(keep), limit)
    return ", ".join(kept + keep_phrases)


# ---- the local writer ----------------------------------------------------------------------------


class LocalWriter:
    """Deterministic, no LLM: the lexicon's concepts, arranged in a fixed priority order.

    Priority (what is trimmed last comes first): who and what they do, where, the mood, the
    main weather, the time of day, the season, a second weather note; then the style, which
    is never trimmed. It writes only lexicon phrases and the style hint, never a word of the
    diary itself, so names, places and numbers in the diary cannot reach the prompt.
    """

    name = "local"

    def write(self, *, text: str, mood: str, style_prompt: str, style_negative: str) -> DiaryPrompt:
        concepts = find_concepts(text)
        by_category: dict[str, list[Concept]] = {}
        for concept in concepts:
            by_category.setdefault(concept.category, []).append(concept)
        people = by_category.get("people", [])[:MAX_PEOPLE]
        activities = by_category.get("activity", [])[:MAX_ACTIVITIES]
        scenes = by_category.get("scene", [])[:1]
        # A mood the person picked says more than one read from their words.
        moods = [MOOD_PHRASES[mood]] if mood else by_category.get("mood", [])[:1]
        weather = by_category.get("weather", [])[:MAX_WEATHER]
        times = by_category.get("time", [])[:1]
        seasons = by_category.get("season", [])[:1]

        parts: list[tuple[str, tuple[Concept, ...]]] = []  # (phrase, the concepts it shows)
        if people or activities:
            subject = "a person"
            if people:
                subject += " with " + " and ".join(c.phrase for c in people)
            if activities:
                subject += " " + " and ".join(c.phrase for c in activities)
            parts.append((subject, (*people, *activities)))
        else:
            parts.append((GENERIC_SUBJECT, ()))
        if scenes:
            parts.append((scenes[0].phrase, (scenes[0],)))
        elif not (people or activities):
            parts.append((GENERIC_SCENE, ()))
        parts += [(c.phrase, (c,)) for c in (*moods, *weather[:1], *times, *seasons, *weather[1:])]
        if not (weather or times):
            parts.append((GENERIC_LIGHT, ()))

        style = split_phrases(style_prompt or DEFAULT_STYLE)
        kept, style = fit_phrases([phrase for phrase, _ in parts], style, MAX_CLIP_TOKENS)
        shown = [concept for phrase, concepts in parts if phrase in kept for concept in concepts]
        return DiaryPrompt(
            prompt=", ".join(kept + style),
            negative_prompt=fit_to_token_budget(BASE_NEGATIVE, keep=style_negative),
            writer=self.name,
            fallback_reason=None,
            keywords=tuple(concept.name for concept in shown),
        )


# ---- choosing the writer -------------------------------------------------------------------------


@cache
def _openai_writer(settings: OpenAISettings):
    """One client (and its connection pool) per process, not one per job."""
    from gpu_worker.workflows.picture_diary.openai_writer import OpenAIWriter

    return OpenAIWriter(settings)


def write_prompt(
    settings: OpenAISettings, *, text: str, mood: str = "", style_prompt: str = "", style_negative: str = ""
) -> DiaryPrompt:
    """The prompt for a diary entry: by the OpenAI writer when a key is set, else (or when it fails) the local one.

    `mood` is one of the contract's MOODS ("" for none); `style_prompt` and `style_negative`
    are the chosen style's additions (a default style when empty).
    """
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"a diary entry has at most {MAX_TEXT_CHARS} characters")
    if mood not in MOODS:
        raise ValueError(f"unknown mood {mood!r}")
    kwargs = {"text": text, "mood": mood, "style_prompt": style_prompt, "style_negative": style_negative}
    if not settings.openai_api_key:
        return LocalWriter().write(**kwargs)
    try:
        return _openai_writer(settings).write(**kwargs)
    except PromptWriterError as exc:
        # The reason never quotes the diary or the model's answer: it is stored with the result.
        logger.warning("OpenAI prompt writer failed (%s); using the local writer", exc)
        return replace(LocalWriter().write(**kwargs), fallback_reason=str(exc))
