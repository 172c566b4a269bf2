"""A vision LLM plans the makeover, through the official `openai` client (chat completions).

It sees a downscaled copy of the photo and the detections, and must answer with JSON that
matches PLAN_SCHEMA (structured output); the answer is validated again here. Timeouts and
retries (with the client's backoff on 429/5xx) are explicit; anything that goes wrong is a
PlannerError, and the workflow then falls back to the local planner.
"""

from __future__ import annotations

import base64
import io
import json

from PIL import Image, ImageOps

from gpu_worker.config import OpenAISettings
from gpu_worker.llm import structured_answer
from gpu_worker.stages.types import Detection
from gpu_worker.workflows.desk_makeover.planning import CATEGORIES, Plan, PlannerError, Preferences, StyleHints
from gpu_worker.workflows.desk_makeover.planning.schema import MAX_ITEMS, MIN_ITEMS, PLAN_SCHEMA, validate_plan

SYSTEM_PROMPT = f"""You are an interior stylist planning a desk makeover.
You see a photo of a person's desk and the items a detector found on it.
Recommend {MIN_ITEMS} to {MAX_ITEMS} items to ADD to the free desk space (never remove or replace theirs).
For each: a short English label an object detector can find, the item's name in Korean (label_ko),
a Korean Naver Shopping search query, a category (one of: {", ".join(CATEGORIES)}), and a placement on
the desk in a few English words and in Korean (placement_ko).
Write one English SDXL inpainting prompt that paints those items into the free space in the
requested style and tone, and a negative prompt. Answer only with the JSON object."""
IMAGE_LONG_SIDE = 768


class OpenAIPlanner:
    name = "openai"

    def __init__(self, settings: OpenAISettings) -> None:
        self.settings = settings

    def plan(
        self, *, image: Image.Image, detections: list[Detection], preferences: Preferences, style: StyleHints
    ) -> Plan:
        request = {
            "detected_items": [d.normalised(image.width, image.height) for d in detections],
            "style": {"name": style.name, "prompt_hint": style.prompt_addition},
            "tone": preferences.tone,
            "prefer_categories": list(preferences.include_categories),
            "avoid_categories": list(preferences.avoid_categories),
        }
        data = structured_answer(
            self.settings,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": json.dumps(request, ensure_ascii=False)},
                        {"type": "image_url", "image_url": {"url": _data_url(image), "detail": "low"}},
                    ],
                },
            ],
            schema_name="desk_makeover_plan",
            schema=PLAN_SCHEMA,
            temperature=0.4,
            error=PlannerError,
            refusal_reason="the model refused to plan this photo",
        )
        prompt, negative, items = validate_plan(data)
        excluded = [item for item in items if item.category in preferences.avoid_categories]
        if excluded:
            raise PlannerError("the model recommended a category the person wants to avoid")
        return Plan(
            prompt=prompt, negative_prompt=negative, items=items, planner=f"openai:{self.settings.openai_model}"
        )


def _data_url(image: Image.Image) -> str:
    small = ImageOps.contain(image.convert("RGB"), (IMAGE_LONG_SIDE, IMAGE_LONG_SIDE))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
