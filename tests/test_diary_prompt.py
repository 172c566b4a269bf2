"""The picture diary's prompt writers: the local lexicon and budget, and OpenAI through the real client."""

from __future__ import annotations

import json

import pytest

from gpu_worker.config import OpenAISettings
from gpu_worker.contract.picture_diary import MOODS
from gpu_worker.workflows.picture_diary.lexicon import CONCEPTS, MOOD_PHRASES, find_concepts
from gpu_worker.workflows.picture_diary.openai_writer import PROMPT_SCHEMA, SYSTEM_PROMPT
from gpu_worker.workflows.picture_diary.prompt_writer import (
    BASE_NEGATIVE,
    DiaryPrompt,
    estimate_clip_tokens,
    fit_to_token_budget,
    write_prompt,
)
from tests.fake_openai import FakeOpenAI, completion, error, settings_for

STYLE = "watercolor painting, soft pastel colours"
STYLE_NEGATIVE = "photo, 3d render"
NEGATIVE = f"{BASE_NEGATIVE}, {STYLE_NEGATIVE}"
NO_KEY = OpenAISettings(None, None, "gpt-4.1-mini", 5, 0)
KOREAN_WALK = "오늘 친구랑 공원에서 산책했다. 날씨가 맑고 따뜻해서 기분이 좋았다. 김민수 010-1234-5678"
KOREAN_WALK_PROMPT = (
    "a person with a friend taking a walk, in a green park, cheerful happy mood, clear sunny sky, warm gentle air, "
    + STYLE
)
GOOD_ANSWER = {
    "prompt": "a person and a friend strolling through a green park, clear sunny sky, warm air, cheerful mood, "
    "watercolor painting",
    "negative_prompt": "crowd, cars",
}


def _local(text: str, mood: str = "") -> DiaryPrompt:
    return write_prompt(NO_KEY, text=text, mood=mood, style_prompt=STYLE, style_negative=STYLE_NEGATIVE)


@pytest.fixture(scope="module")
def _running_server():
    # One server for the module: stopping one waits out its 0.5 s poll, too slow to pay per test.
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def server(_running_server):
    _running_server.replies.clear()
    _running_server.requests.clear()
    yield _running_server
    assert not _running_server.replies, "the client made fewer requests than the test expected"


# ---- the token budget ------------------------------------------------------------------------------


def test_token_estimate_counts_words_by_thirds_and_every_other_character():
    assert estimate_clip_tokens(STYLE) == 15  # 4 + 3 + "," + 2 + 2 + 3
    assert estimate_clip_tokens("rain-soaked street") == 7
    assert estimate_clip_tokens("KTX 010") == 6, "no vowel: a letter each; digits one each"
    assert estimate_clip_tokens("café") == 5, "non-ASCII: a token per byte"
    assert estimate_clip_tokens("") == 0


def test_fit_drops_whole_trailing_phrases_and_keeps_the_style():
    assert fit_to_token_budget("alpha, beta, gamma, delta", 6) == "alpha, beta"
    assert fit_to_token_budget("alpha, beta, gamma, delta", 10, keep="soft colours") == "alpha, soft colours"
    assert fit_to_token_budget("alpha beta gamma", 3, keep="ink") == "ink", "a phrase is never cut mid-way"
    assert fit_to_token_budget("ink, alpha, Ink", 75, keep="ink") == "alpha, ink", "repeats are dropped"


# ---- the local writer ------------------------------------------------------------------------------


def test_local_writer_on_a_korean_entry_keeps_the_scene_and_drops_the_private_details():
    result = _local(KOREAN_WALK)
    assert result == DiaryPrompt(
        prompt=KOREAN_WALK_PROMPT,
        negative_prompt=NEGATIVE,
        writer="local",
        fallback_reason=None,
        keywords=(
            "people:friend",
            "activity:walk",
            "scene:park",
            "mood:happy",
            "weather:sunny",
            "weather:warm",
        ),
    )
    assert "김민수" not in result.prompt
    assert "010" not in result.prompt


def test_local_writer_on_an_english_entry_with_a_name_an_address_and_a_phone_number():
    result = _local(
        "Had lunch with Sarah Kim at a little restaurant on 221 Baker Street, Seoul. "
        "Call her at 010-9876-5432 or sarah@example.com. It was raining but I was happy."
    )
    assert result.prompt == (
        "a person sharing a meal, in a cozy restaurant, cheerful happy mood, rainy day with wet reflections, " + STYLE
    )
    assert result.keywords == ("activity:eat", "scene:restaurant", "mood:happy", "weather:rain")
    for private in ("Sarah", "Kim", "221", "Baker", "Street", "street", "Seoul", "010", "@"):
        assert private not in result.prompt


def test_local_writer_on_a_rainy_cafe_entry():
    result = _local("비가 와서 카페에서 커피를 마시며 책을 읽었다.")
    assert result.prompt == (
        "a person drinking coffee and reading a book, in a cozy cafe, rainy day with wet reflections, " + STYLE
    )
    assert result.keywords == ("activity:coffee", "activity:read", "scene:cafe", "weather:rain")


def test_local_writer_without_known_keywords_writes_a_generic_prompt():
    result = _local("오늘은 특별한 일이 없었다.")
    assert result.prompt == "a quiet everyday moment, a person by a window at home, soft natural light, " + STYLE
    assert result.keywords == ()


def test_the_mood_a_person_picked_overrides_the_one_read_from_the_text():
    assert _local("오늘 너무 신나는 하루였다").keywords == ("mood:excited",)
    result = _local("오늘 너무 신나는 하루였다", mood="sad")
    assert result.prompt == (
        "a quiet everyday moment, a person by a window at home, melancholy mood, soft natural light, " + STYLE
    )
    assert result.keywords == ("mood:sad",)
    assert _local("오늘은 특별한 일이 없었다.", mood="calm").prompt == (
        "a quiet everyday moment, a person by a window at home, calm peaceful mood, soft natural light, " + STYLE
    )


@pytest.mark.parametrize(
    ("text", "concepts"),
    [
        ("준비가 너무 힘들었다. 사과 한 개가 남았다.", ["mood:tired"]),  # 준비가 is no rain, 한 개 no dog
        ("어제 산 책을 읽었다. 전화를 걸어 봤다.", ["activity:read"]),  # 산 (bought) no mountain, 걸어 no walk
        ("아기자기한 놀이공원에 갔다", ["scene:amusement_park"]),  # not a baby, not a park
        ("남자친구랑 아이스크림을 먹었다", ["people:couple", "activity:ice_cream"]),
        ("눈이 아파서 병원에 갔다. 첫눈이 왔다!", ["scene:hospital", "weather:snow"]),
        (
            "Met Park Jiwoo downtown, then a picnic on Christmas.",
            ["scene:street", "activity:picnic", "season:christmas"],
        ),
        ("The rest of the day I was SO HAPPY", ["mood:happy"]),
    ],
)
def test_matching_handles_inflection_and_avoids_false_positives(text, concepts):
    assert [concept.name for concept in find_concepts(text)] == concepts


def test_local_writer_is_deterministic_and_fits_the_budget_on_a_long_entry():
    text = (
        "아침에 엄마랑 강아지 산책을 하고, 오후에는 동생이랑 놀이공원에 갔다. 가을이라 단풍이 예뻤고 바람이 시원했다. "
        "저녁에는 가족과 식당에서 맛있는 밥을 먹었다. 밤에는 피곤했지만 행복했다. 비가 조금 왔고 추웠다. "
    ) * 5
    result = _local(text)
    assert result == _local(text)
    assert result.prompt == (
        "a person with their mother and a small dog taking a walk and sharing a meal, at an amusement park, "
        "tired quiet mood, a breezy day with swaying leaves, " + STYLE
    )
    assert result.keywords == (
        "people:mom",
        "people:dog",
        "activity:walk",
        "activity:eat",
        "scene:amusement_park",
        "mood:tired",
        "weather:windy",
    ), "the time of day and the season did not fit, so they are not claimed"
    assert estimate_clip_tokens(result.prompt) == 69
    assert estimate_clip_tokens(result.negative_prompt) <= 75


def test_a_style_too_long_for_the_budget_is_trimmed_too():
    adjectives = ("luminous", "delicate", "whimsical", "textured", "dreamlike", "vibrant")
    styles = [f"{adjective} ornamental watercolour illustration" for adjective in adjectives]
    result = write_prompt(NO_KEY, text=KOREAN_WALK, style_prompt=", ".join(styles))
    assert result.prompt == ", ".join(styles[:4]), "the style alone fills the budget: its tail and the diary give way"
    assert result.keywords == ()
    assert estimate_clip_tokens(result.prompt) == 63


def test_the_lexicon_only_holds_plain_english_phrases_and_knows_every_mood():
    phrases = [concept.phrase for concept in CONCEPTS]
    assert len(set(phrases)) == len(phrases)
    assert all(phrase.isascii() and "," not in phrase for phrase in phrases)
    assert sorted(MOOD_PHRASES) == [
        "angry",
        "calm",
        "excited",
        "grateful",
        "happy",
        "lonely",
        "nostalgic",
        "sad",
        "tired",
    ]
    assert set(MOODS) - {""} <= set(MOOD_PHRASES)


def test_the_contract_limits_are_enforced():
    with pytest.raises(ValueError, match="unknown mood"):
        write_prompt(NO_KEY, text="오늘", mood="ecstatic")
    with pytest.raises(ValueError, match="2000"):
        write_prompt(NO_KEY, text="가" * 2001)


# ---- OpenAI through the real client ------------------------------------------------------------------


def test_openai_prompt_is_used_and_the_request_is_what_we_mean(server):
    text = "오늘 친구랑 공원에서 산책했다. 날씨가 맑았다."
    server.reply(200, completion(json.dumps(GOOD_ANSWER)))
    result = write_prompt(
        settings_for(server.base_url), text=text, mood="happy", style_prompt=STYLE, style_negative=STYLE_NEGATIVE
    )
    assert result == DiaryPrompt(
        prompt="a person and a friend strolling through a green park, clear sunny sky, warm air, cheerful mood, "
        + STYLE,
        negative_prompt=f"{BASE_NEGATIVE}, crowd, cars, {STYLE_NEGATIVE}",
        writer="openai:gpt-4.1-mini",
        fallback_reason=None,
        keywords=(),
    )
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    body = request["json"]
    assert body["model"] == "gpt-4.1-mini"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "diary_picture_prompt", "strict": True, "schema": PROMPT_SCHEMA},
    }
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert json.loads(body["messages"][1]["content"]) == {"diary": text, "mood": "happy", "style_hint": STYLE}


def test_phone_numbers_and_emails_are_not_sent_to_the_model(server):
    server.reply(200, completion(json.dumps(GOOD_ANSWER)))
    write_prompt(settings_for(server.base_url), text="민수 010-1234-5678, minsu@example.com 계좌 1002345678")
    sent = json.loads(server.requests[0]["json"]["messages"][1]["content"])
    assert sent["diary"] == "민수 [number], [email] 계좌 [number]"


def test_a_long_answer_is_trimmed_to_the_budget_keeping_the_style(server):
    numbers = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    phrases = [f"phrase number {number}" for number in numbers]
    server.reply(200, completion(json.dumps({"prompt": ", ".join(phrases), "negative_prompt": ""})))
    result = write_prompt(settings_for(server.base_url), text="산책", style_prompt=STYLE)
    assert result.writer == "openai:gpt-4.1-mini"
    assert result.prompt == ", ".join(phrases[:9]) + ", " + STYLE
    assert estimate_clip_tokens(result.prompt) == 75


WALK_TEXT = "Walked with Sarah in the park. 날씨가 맑았다."


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([(500, error(500, "boom"))] * 3, "OpenAI answered HTTP 500"),
        ([(401, error(401, "bad key"))], "OpenAI answered HTTP 401"),
        ([(200, completion("this is not json {"))], "the model's answer is not JSON"),
        ([(200, completion(None, refusal="I can't help with that."))], "the model refused"),
        (
            [(200, completion(json.dumps({"prompt": 42, "negative_prompt": ""})))],
            "the answer is out of schema: prompt must be a string",
        ),
        (
            [(200, completion(json.dumps({**GOOD_ANSWER, "style": "oil"})))],
            "the answer is out of schema: unexpected style",
        ),
        (
            [(200, completion(json.dumps({"prompt": " ".join(["word"] * 61), "negative_prompt": ""})))],
            "the answer is out of schema: prompt is longer than 60 words",
        ),
        (
            [(200, completion(json.dumps({"prompt": " ".join(["beautiful"] * 25), "negative_prompt": ""})))],
            "the answer is out of schema: its first phrase does not fit in 75 tokens",
        ),
        (
            [(200, completion(json.dumps({"prompt": "공원에서 산책하는 두 사람", "negative_prompt": ""})))],
            "the answer is out of schema: prompt must be English",
        ),
        (
            [(200, completion(json.dumps({**GOOD_ANSWER, "prompt": "a person calling 010-1234-5678 in a park"})))],
            "the answer leaks private details: a phone number in prompt",
        ),
        (
            [(200, completion(json.dumps({**GOOD_ANSWER, "negative_prompt": "sarah@example.com"})))],
            "the answer leaks private details: an email address or handle in negative_prompt",
        ),
        (
            [(200, completion(json.dumps({**GOOD_ANSWER, "prompt": "Sarah and a friend walking in a park"})))],
            "the answer leaks private details: a name from the diary in prompt",
        ),
    ],
)
def test_openai_failures_fall_back_to_the_local_writer(server, replies, reason):
    for status, payload in replies:
        server.reply(status, payload)
    result = write_prompt(
        settings_for(server.base_url, retries=2), text=WALK_TEXT, style_prompt=STYLE, style_negative=STYLE_NEGATIVE
    )
    assert result == DiaryPrompt(
        prompt="a person taking a walk, in a green park, clear sunny sky, " + STYLE,
        negative_prompt=NEGATIVE,
        writer="local",
        fallback_reason=reason,
        keywords=("activity:walk", "scene:park", "weather:sunny"),
    )
    assert len(server.requests) == len(replies), "only 5xx is retried: 1 request + 2 retries"


def test_openai_rate_limit_is_retried_then_succeeds(server):
    server.reply(429, error(429, "slow down"))
    server.reply(200, completion(json.dumps(GOOD_ANSWER)))
    result = write_prompt(settings_for(server.base_url, retries=2), text=WALK_TEXT)
    assert result.writer == "openai:gpt-4.1-mini"
    assert result.fallback_reason is None
    assert len(server.requests) == 2
