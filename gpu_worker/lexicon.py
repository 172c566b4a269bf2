"""Keyword lexicons of the local prompt writers (the diary's, the pet portrait's): entries, and the
rule that picks what a text mentions when keywords overlap.

Each writer keeps its own entries and its own keyword patterns (a diary reads sentences and must
tell a name from a noun; a pet owner's instruction is one short phrase), and shares these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LexiconEntry:
    category: str
    key: str
    phrase: str  # English, comma-free: prompts are split and trimmed on commas
    ko: tuple[str, ...]
    en: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.category}:{self.key}"


def lexicon_rows(category: str, *rows: tuple[str, str, str, str]) -> tuple[LexiconEntry, ...]:
    """Rows are (key, phrase, Korean keywords, English keywords), keywords separated by "|"."""
    return tuple(
        LexiconEntry(category, key, phrase, tuple(k for k in ko.split("|") if k), tuple(k for k in en.split("|") if k))
        for key, phrase, ko, en in rows
    )


def first_mentions(candidates: list[tuple[int, int, int]], *, blocker: int) -> list[int]:
    """Entry indices in the order the text first mentions them, each once, from (start, end, index)
    matches. Where matches overlap the longest wins, then the leftmost, then lexicon order:
    deterministic and overlap-free. A match with index `blocker` wins like any other and means nothing
    (a word that holds a keyword but is something else)."""
    taken: list[tuple[int, int]] = []
    first_seen: dict[int, int] = {}
    for start, end, index in sorted(candidates, key=lambda c: (c[0] - c[1], c[0], c[2])):
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        if index != blocker:
            first_seen[index] = min(start, first_seen.get(index, start))
    return sorted(first_seen, key=lambda i: (first_seen[i], i))
