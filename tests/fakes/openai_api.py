"""A fake OpenAI Chat Completions API on 127.0.0.1, driven by scripted responses.

Tests point the real ``openai`` SDK at it (``base_url=fake.base_url``, which
ends in ``/v1``) or run ``claude-pm pm --provider openai --base-url ...``
against it, and script what each ``POST /v1/chat/completions`` answers: a
completion (text, function tool calls, a finish reason and usage), an HTTP
error in OpenAI's error format (a 429 with ``retry-after``, a 503, a 401), or
no answer at all (a client timeout). Every request body and its headers are
recorded. A request beyond the script gets a 500 that names the problem and
is counted in ``unexpected``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import LoopbackServer
from fakes.messages_api import Scripted, never_answers

__all__ = [
    "FakeChatCompletionsAPI",
    "Scripted",
    "api_error",
    "completion",
    "function_call",
    "never_answers",
    "overloaded",
    "rate_limited",
    "tool_messages",
]

_ids = itertools.count(1)


def function_call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    """A function tool call; ``arguments`` is JSON-encoded unless it is already a string."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": call_id or f"call_{next(_ids):04d}",
        "type": "function",
        "function": {"name": name, "arguments": text},
    }


def completion(
    content: str | None = None,
    *tool_calls: dict[str, Any],
    finish_reason: str | None = None,
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    cached_tokens: int = 0,
    model: str = "local-test",
) -> Scripted:
    """A 200 answer with one choice; ``finish_reason`` defaults from the content."""
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    body = {
        "id": f"chatcmpl-{next(_ids):04d}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
        },
    }
    return Scripted(200, body)


def api_error(
    status: int,
    error_type: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
) -> Scripted:
    """An error answer in OpenAI's error format."""
    body = {"error": {"message": detail, "type": error_type, "param": None, "code": code}}
    return Scripted(status, body, dict(headers or {}))


def rate_limited(retry_after_s: float = 0.005) -> Scripted:
    """A 429 the SDK retries after ``retry_after_s`` (sent as ``retry-after``)."""
    return api_error(
        429,
        "requests",
        "Rate limit reached for requests.",
        {"retry-after": f"{retry_after_s:g}"},
        code="rate_limit_exceeded",
    )


def overloaded(retry_after_s: float = 0.005) -> Scripted:
    """A 503 (the server is overloaded) the SDK retries after ``retry_after_s``."""
    return api_error(
        503, "server_error", "The server is overloaded.", {"retry-after": f"{retry_after_s:g}"}
    )


def tool_messages(body: Mapping[str, Any]) -> dict[str, str]:
    """The ``role: "tool"`` messages of a recorded request: content by ``tool_call_id``."""
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m.get("role") == "tool"}


Responder = Callable[[dict[str, Any]], Scripted]


class FakeChatCompletionsAPI(LoopbackServer):
    """Serve scripted answers to ``POST /v1/chat/completions`` on a free loopback port."""

    def __init__(self, script: Iterable[Scripted | Responder] = ()) -> None:
        self._script: list[Scripted | Responder] = list(script)
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.unexpected = 0
        self._released = threading.Event()
        super().__init__()
        # Poll for shutdown often: every test stops its fake, and the default 0.5 s adds up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The URL an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    def add(self, *answers: Scripted | Responder) -> None:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(answers)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        super().__exit__(*exc)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Scripted:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if not self._script:
                self.unexpected += 1
                return api_error(500, "server_error", "fake Chat Completions: script exhausted")
            answer = self._script.pop(0)
        return answer(body) if callable(answer) else answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/chat/completions":
                    self._send(api_error(404, "invalid_request_error", f"no route {self.path}"))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(api_error(400, "invalid_request_error", "body is not JSON"))
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._send(fake._next(body, headers))

            def _send(self, answer: Scripted) -> None:
                if answer.hang:
                    fake._released.wait(timeout=60)
                    self.close_connection = True
                    return
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("x-request-id", f"req_{next(_ids):04d}")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
