"""One structured-JSON chat call through the official `openai` client, shared by the desk planner and
the diary prompt writer: explicit timeout and retries (from settings), and every way the call can go
wrong turned into one short reason, raised as the caller's own error so it falls back."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import openai

from gpu_worker import metrics as gpu_metrics
from gpu_worker.config import OpenAISettings


@cache
def openai_client(settings: OpenAISettings) -> openai.OpenAI:
    """One client (and its connection pool) per process and settings, not one per job."""
    return openai.OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
    )


def structured_answer(
    settings: OpenAISettings,
    *,
    messages: list[dict[str, Any]],
    schema_name: str,
    schema: dict[str, Any],
    temperature: float,
    error: type[Exception],
    refusal_reason: str = "the model refused",
) -> Any:
    """The model's JSON answer (not yet validated against the schema: the caller does that)."""
    try:
        answer = _answer(settings, messages, schema_name, schema, temperature, error, refusal_reason)
    except error as exc:
        # Counted per purpose for /metrics: every failure here is a fallback in the caller.
        gpu_metrics.openai_call_record(schema_name, getattr(exc, "metrics_outcome", "request_failed"))
        raise
    gpu_metrics.openai_call_record(schema_name, "ok")
    return answer


def _failure(error: type[Exception], message: str, outcome: str) -> Exception:
    failure = error(message)
    failure.metrics_outcome = outcome  # which of gpu_worker.metrics.OPENAI_FAILURES
    return failure


def _answer(
    settings: OpenAISettings,
    messages: list[dict[str, Any]],
    schema_name: str,
    schema: dict[str, Any],
    temperature: float,
    error: type[Exception],
    refusal_reason: str,
) -> Any:
    try:
        response = openai_client(settings).chat.completions.create(
            model=settings.openai_model,
            temperature=temperature,
            messages=messages,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": True, "schema": schema},
            },
        )
    except openai.APIStatusError as exc:
        raise _failure(error, f"OpenAI answered HTTP {exc.status_code}", "http_error") from exc
    except openai.APITimeoutError as exc:
        raise _failure(error, "OpenAI did not answer in time", "timeout") from exc
    except openai.APIError as exc:
        raise _failure(error, f"OpenAI request failed: {type(exc).__name__}", "request_failed") from exc
    if not response.choices:
        raise _failure(error, "OpenAI returned no choices", "no_choices")
    message = response.choices[0].message
    if getattr(message, "refusal", None):
        raise _failure(error, refusal_reason, "refused")
    try:
        return json.loads(message.content or "")
    except json.JSONDecodeError as exc:
        raise _failure(error, "the model's answer is not JSON", "not_json") from exc
