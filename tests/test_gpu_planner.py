"""Planners: the local one's rules, and the OpenAI one through the real client against a local server."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from gpu_worker.config import OpenAISettings
from gpu_worker.stages.types import Detection
from gpu_worker.workflows.desk_makeover.planning import Preferences, StyleHints
from gpu_worker.workflows.desk_makeover.planning.choose import make_plan
from gpu_worker.workflows.desk_makeover.planning.local import LocalPlanner
from gpu_worker.workflows.desk_makeover.planning.schema import PLAN_SCHEMA
from tests.fake_openai import FakeOpenAI, completion, error, settings_for

IMAGE = Image.new("RGB", (192, 128), (180, 140, 100))
DETECTIONS = [Detection("monitor", 0.9, (50, 10, 140, 60)), Detection("desk lamp", 0.8, (5, 5, 30, 60))]
GOOD_PLAN = {
    "prompt": "a small potted plant and a walnut monitor stand on a tidy desk, warm light",
    "negative_prompt": "blurry, text",
    "items": [
        {
            "label": "plant",
            "label_ko": "화분",
            "query_ko": "미니 화분",
            "category": "plants",
            "placement": "back right",
            "placement_ko": "뒤쪽 오른편",
        },
        {
            "label": "monitor stand",
            "label_ko": "모니터 받침대",
            "query_ko": "원목 모니터 받침대",
            "category": "organizers",
            "placement": "under monitor",
            "placement_ko": "모니터 아래",
        },
        {
            "label": "desk mat",
            "label_ko": "데스크 매트",
            "query_ko": "데스크 매트",
            "category": "accessories",
            "placement": "front",
            "placement_ko": "앞쪽",
        },
    ],
}


def _plan(settings: OpenAISettings, preferences: Preferences | None = None):
    return make_plan(
        settings,
        image=IMAGE,
        detections=DETECTIONS,
        preferences=preferences or Preferences(tone="warm"),
        style=StyleHints(name="cozy-wood", prompt_addition="warm wooden accessories"),
    )


# ---- local -----------------------------------------------------------------------------------


def test_local_planner_recommends_what_is_missing_deterministically():
    planner = LocalPlanner()
    kwargs = {"image": IMAGE, "detections": DETECTIONS, "style": StyleHints(prompt_addition="warm wood")}
    plan = planner.plan(preferences=Preferences(tone="warm"), **kwargs)
    assert plan == planner.plan(preferences=Preferences(tone="warm"), **kwargs)
    labels = [item.label for item in plan.items]
    assert 3 <= len(labels) <= 6
    assert "desk lamp" not in labels, "the desk already has a lamp"
    assert all(item.query_ko and not item.query_ko.isascii() for item in plan.items), "Korean Naver queries"
    assert "warm wood" in plan.prompt
    assert "warm tones" in plan.prompt


def test_local_planner_honours_category_preferences():
    plan = LocalPlanner().plan(
        image=IMAGE,
        detections=[],
        preferences=Preferences(include_categories=("audio",), avoid_categories=("plants", "lighting")),
        style=StyleHints(),
    )
    categories = [item.category for item in plan.items]
    assert categories[0] == "audio"
    assert "plants" not in categories
    assert "lighting" not in categories


def test_local_planner_is_used_without_a_key():
    plan, fallback = _plan(OpenAISettings(None, None, "gpt-4.1-mini", 5, 0))
    assert plan.planner == "local"
    assert fallback is None


# ---- OpenAI through the real client ---------------------------------------------------------------


def test_openai_plan_is_used_and_the_request_is_what_we_mean():
    with FakeOpenAI() as server:
        server.reply(200, completion(json.dumps(GOOD_PLAN)))
        plan, fallback = _plan(settings_for(server.base_url))
    assert fallback is None
    assert plan.planner == "openai:gpt-4.1-mini"
    assert [item.label for item in plan.items] == ["plant", "monitor stand", "desk mat"]
    assert [(item.label_ko, item.placement_ko) for item in plan.items] == [
        ("화분", "뒤쪽 오른편"),
        ("모니터 받침대", "모니터 아래"),
        ("데스크 매트", "앞쪽"),
    ]
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    body = request["json"]
    assert body["response_format"]["json_schema"]["schema"] == PLAN_SCHEMA
    user_content = body["messages"][1]["content"]
    assert user_content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    sent = json.loads(user_content[0]["text"])
    assert sent["tone"] == "warm"
    assert [d["label"] for d in sent["detected_items"]] == ["monitor", "desk lamp"]


def test_a_plan_without_the_korean_words_falls_back_to_the_local_planner():
    items = [{k: v for k, v in item.items() if k != "placement_ko"} for item in GOOD_PLAN["items"]]
    with FakeOpenAI() as server:
        server.reply(200, completion(json.dumps({**GOOD_PLAN, "items": items})))
        plan, fallback = _plan(settings_for(server.base_url))
    assert fallback == "items[0].placement_ko must be a non-empty string"
    assert plan.planner == "local"


def test_every_local_item_has_its_korean_name_and_place():
    from gpu_worker.workflows.desk_makeover.planning.local import CANDIDATES

    for item, _has in CANDIDATES:
        assert not item.label_ko.isascii(), item.label  # also fails when empty
        assert not item.placement_ko.isascii(), item.label


def test_openai_rate_limit_is_retried_then_succeeds():
    with FakeOpenAI() as server:
        server.reply(429, error(429, "slow down"))
        server.reply(200, completion(json.dumps(GOOD_PLAN)))
        plan, fallback = _plan(settings_for(server.base_url, retries=2))
    assert fallback is None
    assert plan.planner.startswith("openai")
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([(500, error(500, "boom"))] * 2, "HTTP 500"),
        ([(200, completion("this is not json {"))], "not JSON"),
        ([(200, completion(None, refusal="I can't help with that."))], "refused"),
        ([(200, completion(json.dumps({**GOOD_PLAN, "items": GOOD_PLAN["items"][:2]})))], "items must be"),
        (
            [
                (
                    200,
                    completion(
                        json.dumps({**GOOD_PLAN, "items": [{**GOOD_PLAN["items"][0], "category": "weapons"}] * 3})
                    ),
                )
            ],
            "category",
        ),
        ([(401, error(401, "bad key"))], "HTTP 401"),
    ],
)
def test_openai_failures_fall_back_to_the_local_planner(replies, reason):
    with FakeOpenAI() as server:
        for status, payload in replies:
            server.reply(status, payload)
        plan, fallback = _plan(settings_for(server.base_url, retries=1))
    assert plan.planner == "local"
    assert reason in fallback
    assert len(plan.items) >= 3
    assert len(server.requests) == len(replies), "retries happen only for retryable errors"


def test_openai_plan_that_ignores_avoided_categories_is_rejected():
    with FakeOpenAI() as server:
        server.reply(200, completion(json.dumps(GOOD_PLAN)))
        plan, fallback = _plan(settings_for(server.base_url), Preferences(avoid_categories=("plants",)))
    assert plan.planner == "local"
    assert "avoid" in fallback
    assert all(item.category != "plants" for item in plan.items)
