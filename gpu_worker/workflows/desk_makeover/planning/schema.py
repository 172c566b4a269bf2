"""The plan's JSON schema (sent to the model as a structured-output schema) and its validator.

The model's output is never trusted: `validate_plan` checks every field and bound again.
"""

from __future__ import annotations

from typing import Any

from gpu_worker.workflows.desk_makeover.planning import CATEGORIES, PlannerError, RecommendedItem

MIN_ITEMS, MAX_ITEMS = 3, 6

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["prompt", "negative_prompt", "items"],
    "properties": {
        "prompt": {"type": "string", "description": "SDXL inpainting prompt for the free desk space, English"},
        "negative_prompt": {"type": "string"},
        "items": {
            "type": "array",
            "minItems": MIN_ITEMS,
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["label", "label_ko", "query_ko", "category", "placement", "placement_ko"],
                "properties": {
                    "label": {"type": "string", "description": "short English object name a detector can find"},
                    "query_ko": {"type": "string", "description": "Korean Naver Shopping search query"},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                    "placement": {"type": "string", "description": "where on the desk, in a few English words"},
                    "label_ko": {"type": "string", "description": "the item's name as a Korean reader says it"},
                    "placement_ko": {"type": "string", "description": "the placement, in Korean"},
                },
            },
        },
    },
}


def _text(value: Any, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PlannerError(f"{field} must be a non-empty string")
    value = " ".join(value.split())
    if len(value) > max_length:
        raise PlannerError(f"{field} is longer than {max_length} characters")
    return value


def validate_plan(data: Any) -> tuple[str, str, list[RecommendedItem]]:
    if not isinstance(data, dict):
        raise PlannerError("the plan must be a JSON object")
    prompt = _text(data.get("prompt"), "prompt", 600)
    negative = data.get("negative_prompt") or ""
    if not isinstance(negative, str) or len(negative) > 600:
        raise PlannerError("negative_prompt must be a string of at most 600 characters")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not MIN_ITEMS <= len(raw_items) <= MAX_ITEMS:
        raise PlannerError(f"items must be a list of {MIN_ITEMS} to {MAX_ITEMS} entries")
    items = []
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise PlannerError(f"items[{index}] must be an object")
        label = _text(raw.get("label"), f"items[{index}].label", 40).lower()
        if not label.isascii():
            raise PlannerError(f"items[{index}].label must be English")
        category = raw.get("category")
        if category not in CATEGORIES:
            raise PlannerError(f"items[{index}].category {category!r} is not one of {', '.join(CATEGORIES)}")
        items.append(
            RecommendedItem(
                label=label,
                query_ko=_text(raw.get("query_ko"), f"items[{index}].query_ko", 60),
                category=category,
                placement=_text(raw.get("placement"), f"items[{index}].placement", 80),
                label_ko=_text(raw.get("label_ko"), f"items[{index}].label_ko", 40),
                placement_ko=_text(raw.get("placement_ko"), f"items[{index}].placement_ko", 80),
            )
        )
    if len({item.label for item in items}) != len(items):
        raise PlannerError("items must not repeat a label")
    return prompt, " ".join(negative.split()), items
