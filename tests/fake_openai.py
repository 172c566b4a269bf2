"""A local HTTP server that speaks OpenAI's chat-completions protocol, for the real `openai` client.

Each test queues the replies it wants (status, JSON body, headers); the server records every
request it received so tests can check what the client really sent.
"""

from __future__ import annotations

import json

from gpu_worker.config import OpenAISettings
from tests.fake_http import LocalServer, QuietHandler


def completion(content: str | None, *, refusal: str | None = None) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


def error(status: int, message: str) -> dict:
    return {"error": {"message": message, "type": "server_error" if status >= 500 else "rate_limit", "code": None}}


class FakeOpenAI(LocalServer):
    def __init__(self) -> None:
        self.replies: list[tuple[int, dict, dict]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append({"path": self.path, "json": json.loads(body), "headers": headers})
                status, payload, extra = fake.replies.pop(0) if fake.replies else (500, error(500, "no reply"), {})
                self.reply(status, json.dumps(payload).encode(), headers=extra)

        super().__init__(Handler)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
        # retry-after-ms keeps the client's backoff short in tests; the client honours it.
        self.replies.append((status, payload, {"retry-after-ms": "10", **(headers or {})}))


def settings_for(base_url: str, retries: int = 1) -> OpenAISettings:
    """What a worker configured for this server would use (a short timeout keeps tests quick)."""
    return OpenAISettings(
        openai_api_key="sk-test",
        openai_base_url=base_url,
        openai_model="gpt-4.1-mini",
        timeout_seconds=5,
        max_retries=retries,
    )
