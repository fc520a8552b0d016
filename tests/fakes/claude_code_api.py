"""A fake Messages API on 127.0.0.1 that the real Claude Code CLI can talk to.

Claude Code streams (``"stream": true``, server-sent events) and adds a
``?beta=true`` query. Version 2.1.332 in print mode sends nothing but the main
conversation; other versions or modes may count tokens
(``POST /v1/messages/count_tokens``) or ask for a title or a summary on the
side. This fake answers all of them:

- A request whose ``tools`` offer the tool-search tool is the main
  conversation (or, with ``main=``, a request that predicate accepts: a
  session given ``--tools Read,Grep`` offers no tool search; see
  :func:`offers`). Its answer is ``turns[n]``, where ``n`` is the number of
  assistant messages already in the request: the answer follows the
  conversation, not the arrival order, so a retried request gets the same
  answer. A turn is a :class:`~fakes.messages_api.Scripted` message or a
  function of the request body returning one.
- Any other request to ``/v1/messages`` gets a short text answer and is kept
  in ``side_requests``.
- ``/v1/messages/count_tokens`` gets a fixed count; any other path a 404, and
  a ``CONNECT`` (the fake doubles as ``HTTPS_PROXY``) a 403; both are kept in
  ``other_paths``.

A main-conversation request beyond the script gets a 500 and is counted in
``unexpected``. Build answers with the helpers of :mod:`fakes.messages_api`
(``message``, ``text``, ``tool_use``). :class:`ClaudeCode` runs one CLI
session and talks to it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from fakes.loopback import LoopbackServer
from fakes.messages_api import Scripted, api_error, message, text

#: The name Claude Code gives its tool-search tool (what loads deferred MCP tools).
TOOL_SEARCH = "ToolSearch"
#: How long a session may run, and how long a streaming session may take to say something.
SESSION_TIMEOUT_S = 90.0
MESSAGE_TIMEOUT_S = 30.0

Turn = Scripted | Callable[[dict[str, Any]], Scripted]


def tool_names(request: Mapping[str, Any]) -> list[str]:
    """The names of the tools a request offers the model."""
    return [str(tool.get("name")) for tool in request.get("tools") or []]


def offers(name: str) -> Callable[[Mapping[str, Any]], bool]:
    """A ``main=`` predicate for :class:`FakeClaudeCodeAPI`: the requests offering tool ``name``."""
    return lambda body: name in tool_names(body)


def tool_results(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``tool_result`` blocks of a request's last user message."""
    for entry in reversed(request.get("messages") or []):
        if entry.get("role") == "user" and isinstance(entry.get("content"), list):
            return [b for b in entry["content"] if b.get("type") == "tool_result"]
    return []


def result_text(block: Mapping[str, Any]) -> str:
    """The text of a ``tool_result`` block, whether its content is a string or blocks."""
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content or [] if b.get("type") == "text")


def sse_events(body: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Messages API streaming events that deliver the message ``body``."""
    start = {k: v for k, v in body.items() if k not in ("content", "stop_reason", "usage")}
    usage = dict(body.get("usage") or {})
    output_tokens = usage.pop("output_tokens", 1)
    start.update(content=[], stop_reason=None, usage={**usage, "output_tokens": 1})
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(body.get("content") or []):
        if block.get("type") == "tool_use":
            opening = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            opening = {**block, "text": ""}
            delta = {"type": "text_delta", "text": block.get("text", "")}
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": opening,
            },
        )
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": body.get("stop_reason"), "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
    )
    yield "message_stop", {"type": "message_stop"}


class FakeClaudeCodeAPI(LoopbackServer):
    """Serve a scripted conversation to Claude Code on a free loopback port.

    Use as a context manager; point ``ANTHROPIC_BASE_URL`` at :attr:`url`.
    """

    def __init__(
        self,
        turns: Iterable[Turn],
        side_answer: str = "claude-pm session",
        main: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self._turns: list[Turn] = list(turns)
        self._is_main = main or (lambda body: TOOL_SEARCH in tool_names(body))
        self._side_answer = side_answer
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.side_requests: list[dict[str, Any]] = []
        self.other_paths: list[str] = []
        self.unexpected = 0
        super().__init__()

    def main_request(self, turn: int) -> dict[str, Any]:
        """The last main-conversation request that was answered with ``turns[turn]``."""
        with self._lock:
            found = [r for r in self.requests if _assistant_turns(r) == turn]
        if not found:
            raise AssertionError(f"Claude Code never asked for turn {turn}")
        return found[-1]

    def answer(self, body: dict[str, Any]) -> Scripted:
        """The answer to one ``POST /v1/messages`` body (recording it)."""
        if not self._is_main(body):
            with self._lock:
                self.side_requests.append(body)
            return message(text(self._side_answer), model=str(body.get("model", "claude-test")))
        turn = _assistant_turns(body)
        with self._lock:
            self.requests.append(body)
            if turn >= len(self._turns):
                self.unexpected += 1
                return api_error(500, "api_error", f"fake API: no scripted turn {turn}")
            scripted = self._turns[turn]
        return scripted(body) if callable(scripted) else scripted

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = self.path.split("?")[0]
                if path == "/v1/messages/count_tokens":
                    self._send_json(Scripted(200, {"input_tokens": 100}))
                    return
                if path != "/v1/messages":
                    with fake._lock:
                        fake.other_paths.append(self.path)
                    self._send_json(api_error(404, "not_found_error", f"no route {self.path}"))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send_json(api_error(400, "invalid_request_error", "body is not JSON"))
                    return
                answer = fake.answer(body)
                if body.get("stream") and answer.status == 200:
                    self._send_stream(answer)
                else:
                    self._send_json(answer)

            def do_GET(self) -> None:
                with fake._lock:
                    fake.other_paths.append(self.path)
                self._send_json(api_error(404, "not_found_error", f"no route {self.path}"))

            def do_CONNECT(self) -> None:
                # Used as HTTPS_PROXY, the fake sees (and refuses) any attempt to leave loopback.
                with fake._lock:
                    fake.other_paths.append(f"CONNECT {self.path}")
                self.send_response(403)
                self.send_header("content-length", "0")
                self.end_headers()
                self.close_connection = True

            def _send_json(self, answer: Scripted) -> None:
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def _send_stream(self, answer: Scripted) -> None:
                payload = b"".join(
                    f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    for name, data in sse_events(answer.body)
                )
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def _assistant_turns(body: Mapping[str, Any]) -> int:
    return sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")


class ClaudeCode:
    """One Claude Code session: print mode with a prompt, or streaming JSON in and out.

    In streaming mode the test writes user messages and control requests (what
    the Agent SDK sends, e.g. an interrupt: Esc in the terminal) to stdin and
    reads the CLI's messages from stdout.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, stderr: Path) -> None:
        self.argv, self.env, self.cwd, self.stderr = argv, env, cwd, stderr
        self.streaming = "--input-format" in argv
        self.process: subprocess.Popen[str] | None = None
        self.messages: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.stderr.open("w") as stderr:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.PIPE if self.streaming else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        if self.streaming:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, payload: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(payload) + "\n")
        self.process.stdin.flush()

    def say(self, prompt: str) -> None:
        self.send(
            {
                "type": "user",
                "message": {"role": "user", "content": prompt},
                "parent_tool_use_id": None,
                "session_id": "default",
            }
        )

    def next_message(self, kind: str) -> dict[str, Any]:
        """The next message of type ``kind`` the CLI writes (streaming mode)."""
        deadline = time.monotonic() + MESSAGE_TIMEOUT_S
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"Claude Code wrote no {kind!r} message in {MESSAGE_TIMEOUT_S} s")
            if line is None:
                pytest.fail(f"Claude Code exited before a {kind!r} message: {self._stderr_tail()}")
            if line.strip():
                self.messages.append(json.loads(line))
                if self.messages[-1].get("type") == kind:
                    return self.messages[-1]

    def finish(self) -> tuple[int, str]:
        """Close stdin, wait for the session to end (killed at the deadline): exit code, stdout."""
        assert self.process is not None
        try:
            if not self.streaming:
                out, _ = self.process.communicate(timeout=SESSION_TIMEOUT_S)
                return self.process.returncode, out
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.close()
            self.process.wait(timeout=SESSION_TIMEOUT_S)
            return self.process.returncode, ""
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            pytest.fail(
                f"Claude Code did not finish in {SESSION_TIMEOUT_S} s: {self._stderr_tail()}"
            )
        finally:
            if self._reader is not None:
                self._reader.join(timeout=MESSAGE_TIMEOUT_S)
                assert self.process.stdout is not None
                self.process.stdout.close()

    def run(self) -> dict[str, Any]:
        """Print mode: start, wait, and return the ``--output-format json`` result."""
        self.start()
        code, out = self.finish()
        assert code == 0, f"Claude Code exited {code}: {self._stderr_tail()}"
        result: dict[str, Any] = json.loads(out)
        return result

    def kill(self) -> None:
        """Kill a session a failed test left running, and close its pipes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=MESSAGE_TIMEOUT_S)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def _stderr_tail(self) -> str:
        return self.stderr.read_text(errors="replace")[-2000:]
