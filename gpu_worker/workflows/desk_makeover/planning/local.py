"""The deterministic planner used when no OpenAI key is configured (and as the fallback).

It recommends what the desk lacks, in a fixed priority order, honouring the person's
category preferences, and writes the prompt from the items, the style and the tone.
"""

from __future__ import annotations

from PIL import Image

from gpu_worker.stages.types import Detection
from gpu_worker.workflows.desk_makeover.planning import Plan, Preferences, RecommendedItem, StyleHints

# (item, detector labels meaning "already has one"), most valuable first. Korean name and place last.
CANDIDATES: list[tuple[RecommendedItem, tuple[str, ...]]] = [
    (
        RecommendedItem(
            "desk lamp", "LED 데스크 스탠드 조명", "lighting", "back left corner", "스탠드 조명", "뒤쪽 왼편 모서리"
        ),
        ("desk lamp", "lamp"),
    ),
    (
        RecommendedItem("plant", "미니 화분 식물", "plants", "back right corner", "화분", "뒤쪽 오른편 모서리"),
        ("plant",),
    ),
    (
        RecommendedItem(
            "desk mat",
            "데스크 매트 가죽",
            "accessories",
            "under the keyboard and mouse",
            "데스크 매트",
            "키보드와 마우스 아래",
        ),
        ("desk mat",),
    ),
    (
        RecommendedItem(
            "monitor stand", "원목 모니터 받침대", "organizers", "under the monitor", "모니터 받침대", "모니터 아래"
        ),
        ("monitor stand",),
    ),
    (
        RecommendedItem("desk organizer", "데스크 정리함 수납", "organizers", "left side", "책상 정리함", "왼쪽"),
        ("desk organizer",),
    ),
    (
        RecommendedItem("headphone stand", "헤드폰 거치대", "accessories", "right side", "헤드폰 거치대", "오른쪽"),
        ("headphone stand",),
    ),
    (
        RecommendedItem("speaker", "블루투스 스피커 데스크", "audio", "beside the monitor", "스피커", "모니터 옆"),
        ("speaker",),
    ),
    (
        RecommendedItem("mug", "세라믹 머그컵", "decor", "front right", "머그컵", "앞쪽 오른편"),
        ("mug",),
    ),
]
TONE_WORDS = {
    "warm": "warm tones, natural wood, soft warm light",
    "cool": "cool tones, white and grey, crisp daylight",
    "neutral": "balanced neutral tones, soft daylight",
}
BASE_NEGATIVE = "blurry, distorted, deformed, text, watermark, logo, people, hands, clutter, low quality"
DEFAULT_COUNT = 4


class LocalPlanner:
    name = "local"

    def plan(
        self, *, image: Image.Image, detections: list[Detection], preferences: Preferences, style: StyleHints
    ) -> Plan:
        present = {d.label for d in detections}
        allowed = [(item, has) for item, has in CANDIDATES if item.category not in preferences.avoid_categories]
        # Preferred categories first; the list order breaks ties, so the plan is deterministic.
        allowed.sort(key=lambda pair: pair[0].category not in preferences.include_categories)
        missing = [item for item, has in allowed if not present.intersection(has)]
        chosen = missing[:DEFAULT_COUNT]
        for item, _ in allowed:  # a desk that has everything still gets three ideas
            if len(chosen) >= 3:
                break
            if item not in chosen:
                chosen.append(item)
        labels = ", ".join(item.label for item in chosen)
        parts = [f"a beautiful, tidy desk setup with a {labels}", style.prompt_addition, TONE_WORDS[preferences.tone]]
        parts.append("photorealistic, high detail, natural shadows")
        negative = ", ".join(p for p in (BASE_NEGATIVE, style.negative_prompt_addition) if p)
        return Plan(prompt=", ".join(p for p in parts if p), negative_prompt=negative, items=chosen, planner=self.name)
