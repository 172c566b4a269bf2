"""A local HTTP server that speaks OpenAI's chat-completions protocol, for the real `openai` client.

Each test queues the replies it wants (status, JSON body, headers); the server records every
request it received so tests can check what the client really sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class FakeOpenAI:
    def __init__(self) -> None:
        self.replies: list[tuple[int, dict, dict]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append(
                    {
                        "path": self.path,
                        "json": json.loads(body),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                status, payload, headers = fake.replies.pop(0) if fake.replies else (500, error(500, "no reply"), {})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def reply(self, status: int, payload: dict, headers: dict | None = None) -> None:
        # retry-after-ms keeps the client's backoff short in tests; the client honours it.
        self.replies.append((status, payload, {"retry-after-ms": "10", **(headers or {})}))

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
