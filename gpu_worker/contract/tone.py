"""Warm or cool: a person's skin undertone, read from their photos, decides a portrait's tone.

Both tiers use this. The GPU tier measures each photo's skin (face box → SAM 2 mask → grey-world
white balance → the median CIELAB of the skin pixels, `SkinReading`); the web tier keeps the
readings of a subject's accepted photos and calls `tone_decide` when a person picks "auto". The
one-photo studio profile decides from its single photo on the GPU.

The undertone is the CIELAB hue angle h = atan2(b*, a*) of the median skin colour: golden and
olive skin sits at a higher angle (more yellow, b*), pink and rosy skin at a lower one (more red,
a*). Measured skin falls roughly between 40° and 75°. The thresholds:

- h ≤ COOL_MAX_HUE (55°): cool; h ≥ WARM_MIN_HUE (61°): warm;
- between them, the "unsure" band: neutral (no tone words, the concept's own scheduler, no grade);
- a chroma C* = hypot(a*, b*) under MIN_CHROMA (8) says too little about the hue (grey light, a
  failed white balance): neutral, confidence 0;
- fewer than MIN_SKIN_PIXELS skin pixels: no reading at all.

Confidence rises from 0.5 at the band's edge to 1.0 at TONE_FULL_CONFIDENCE_DEGREES (8°) beyond it,
and is scaled by the share of photos that agree with the median. These are the band's first
settings from synthetic patches (tests/test_gpu_tone.py); re-measure them on consented real photos.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Literal

from gpu_worker.contract import ContractError

Tone = Literal["warm", "cool", "neutral"]
TONES: tuple[str, ...] = ("warm", "cool", "neutral")
# What a person can ask for: "auto" is decided from the skin.
ToneChoice = Literal["auto", "warm", "cool"]
TONE_CHOICES: tuple[str, ...] = ("auto", "warm", "cool")

COOL_MAX_HUE = 55.0
WARM_MIN_HUE = 61.0
MIN_CHROMA = 8.0
MIN_SKIN_PIXELS = 200
TONE_FULL_CONFIDENCE_DEGREES = 8.0


@dataclass(frozen=True)
class SkinReading:
    """The median skin colour of one photo, after grey-world white balance (CIELAB, D65)."""

    lightness: float  # L*, 0-100
    a: float  # a*, red (+) / green (-)
    b: float  # b*, yellow (+) / blue (-)
    pixels: int  # skin pixels measured

    def __post_init__(self) -> None:
        for name in ("lightness", "a", "b"):
            if not math.isfinite(getattr(self, name)):
                raise ContractError(f"skin reading {name} must be a finite number")
        if self.pixels < 0:
            raise ContractError("skin pixels cannot be negative")

    @property
    def hue_degrees(self) -> float:
        return math.degrees(math.atan2(self.b, self.a))

    @property
    def chroma(self) -> float:
        return math.hypot(self.a, self.b)


@dataclass(frozen=True)
class ToneDecision:
    tone: Tone
    confidence: float  # 0-1: how sure the decision is (0 for "could not tell")
    hue_degrees: float | None  # the median hue angle it was decided from (None: no readings)
    readings: int  # photos that had a skin reading


def _side(hue: float) -> Tone:
    if hue <= COOL_MAX_HUE:
        return "cool"
    if hue >= WARM_MIN_HUE:
        return "warm"
    return "neutral"


def tone_decide(readings: list[SkinReading]) -> ToneDecision:
    """The tone for "auto": from the median hue angle of every usable reading."""
    usable = [r for r in readings if r.pixels >= MIN_SKIN_PIXELS]
    if not usable:
        return ToneDecision(tone="neutral", confidence=0.0, hue_degrees=None, readings=0)
    hue = statistics.median(r.hue_degrees for r in usable)
    chroma = statistics.median(r.chroma for r in usable)
    if chroma < MIN_CHROMA:
        return ToneDecision(tone="neutral", confidence=0.0, hue_degrees=round(hue, 2), readings=len(usable))
    tone = _side(hue)
    if tone == "neutral":
        middle = (COOL_MAX_HUE + WARM_MIN_HUE) / 2
        half = (WARM_MIN_HUE - COOL_MAX_HUE) / 2
        # Sure it is neutral in the middle of the band, less so near either edge.
        confidence = 0.5 + 0.5 * (1 - abs(hue - middle) / half)
    else:
        beyond = COOL_MAX_HUE - hue if tone == "cool" else hue - WARM_MIN_HUE
        confidence = 0.5 + 0.5 * min(1.0, beyond / TONE_FULL_CONFIDENCE_DEGREES)
    agreeing = sum(1 for r in usable if _side(r.hue_degrees) == tone) / len(usable)
    return ToneDecision(
        tone=tone, confidence=round(confidence * agreeing, 3), hue_degrees=round(hue, 2), readings=len(usable)
    )
