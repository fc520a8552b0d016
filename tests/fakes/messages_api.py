"""A fake Anthropic Messages API on 127.0.0.1, driven by scripted responses.

Tests point the real ``anthropic`` SDK at it (``base_url=fake.url``) and script
what each ``POST /v1/messages`` answers: a message, an HTTP error such as a
429 with ``retry-after-ms``, or no answer at all (:func:`never_answers`, to
drive a client timeout). Every request body is recorded, so a test can
assert what the loop sent (tool results, ``is_error`` flags, the system prompt).
A request beyond the script gets a 500 that names the problem and is counted
in ``unexpected``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import LoopbackServer

_ids = itertools.count(1)


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: a status, a JSON body and extra headers (or, with hang, nothing)."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False


def never_answers() -> Scripted:
    """Accept the request and never answer it (until the fake shuts down)."""
    return Scripted(0, {}, hang=True)


def text(value: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, tool_input: Any, call_id: str | None = None) -> dict[str, Any]:
    """A tool_use content block with a fresh id unless one is given."""
    return {
        "type": "tool_use",
        "id": call_id or f"toolu_{next(_ids):04d}",
        "name": name,
        "input": tool_input,
    }


def message(
    *content: dict[str, Any],
    stop_reason: str | None = None,
    input_tokens: int = 100,
    output_tokens: int = 20,
    model: str = "claude-test",
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
) -> Scripted:
    """A 200 answer carrying an assistant message; stop_reason defaults from the content."""
    if stop_reason is None:
        has_tool = any(block.get("type") == "tool_use" for block in content)
        stop_reason = "tool_use" if has_tool else "end_turn"
    body = {
        "id": f"msg_{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
        },
    }
    return Scripted(200, body)


def api_error(
    status: int, error_type: str, detail: str, headers: Mapping[str, str] | None = None
) -> Scripted:
    """An error answer in the Messages API's error format."""
    body = {"type": "error", "error": {"type": error_type, "message": detail}}
    return Scripted(status, body, dict(headers or {}))


def rate_limited(retry_after_ms: int = 5) -> Scripted:
    """A 429 the SDK retries after ``retry_after_ms``."""
    return api_error(
        429,
        "rate_limit_error",
        "Number of requests has exceeded your rate limit.",
        {"retry-after-ms": str(retry_after_ms)},
    )


def overloaded(retry_after_ms: int = 5) -> Scripted:
    """A 529 (overloaded) the SDK retries after ``retry_after_ms``."""
    return api_error(529, "overloaded_error", "Overloaded", {"retry-after-ms": str(retry_after_ms)})


def tool_results(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``tool_result`` blocks of a recorded request's last message, by ``tool_use_id``."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return {}
    return {b["tool_use_id"]: b for b in content if b.get("type") == "tool_result"}


Responder = Callable[[dict[str, Any]], Scripted]


class FakeMessagesAPI(LoopbackServer):
    """Serve scripted answers to ``POST /v1/messages`` on a free loopback port.

    Each script entry is a :class:`Scripted` answer or a function of the
    request body returning one. Use as a context manager.
    """

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

    def __exit__(self, *exc: object) -> None:
        self._released.set()  # let hanging handlers go before the server stops
        super().__exit__(*exc)

    def add(self, *answers: Scripted | Responder) -> None:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(answers)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Scripted:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if not self._script:
                self.unexpected += 1
                return api_error(500, "api_error", "fake Messages API: the script is exhausted")
            answer = self._script.pop(0)
        return answer(body) if callable(answer) else answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/messages":
                    self._send(api_error(404, "not_found_error", f"no route {self.path}"))
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
                self.send_header("request-id", f"req_{next(_ids):04d}")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
