"""Starting real ``python -m claude_pm mcp`` servers for the tests, and waiting on them.

Every server here is a real process; agents are real process trees whose pids
the tests watch die.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import anyio
import pytest
from mcp import StdioServerParameters

DEADLINE_S = 30.0

#: An agent that starts a grandchild, writes both pids, then waits (for a cancel or a signal).
SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open("sleeper.pids.tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.replace("sleeper.pids.tmp", "sleeper.pids")
print("TODO: wake up", flush=True)
time.sleep(300)
"""


def server_argv(project: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "claude_pm", "--project", str(project), "mcp", *extra]


def stdio_params(project: Path, env: Mapping[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=server_argv(project)[1:],
        env=dict(os.environ if env is None else env),
        cwd=str(project),
    )


async def await_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await anyio.sleep(0.02)


def sleeper_pids(project: Path) -> list[int]:
    return [int(p) for p in (project / "sleeper.pids").read_text().split()]


@contextlib.contextmanager
def http_server(
    project: Path, *extra: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``mcp --http --port 0``; yield its URL and process; stop it with SIGTERM."""
    proc = subprocess.Popen(
        server_argv(project, "--http", "--port", "0", *extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else dict(env),
    )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        url = None
        seen = []
        while url is None:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the HTTP server did not start: {''.join(seen)}")
            seen.append(line)
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=5)
            if proc.stderr is not None:
                proc.stderr.close()


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for a server that outlives one test: its own HOME and user agents dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["HOME"] = str(home)
    env["CLAUDE_PM_USER_AGENTS_DIR"] = str(home / ".claude" / "agents")
    return env


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test-client", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def tool_call_line(request_id: int, name: str, arguments_json: str) -> str:
    """A ``tools/call`` request as JSON text, with the arguments already written as JSON."""
    head = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call"})[:-1]
    return f'{head}, "params": {{"name": {json.dumps(name)}, "arguments": {arguments_json}}}}}'


class RawStdioServer:
    """A stdio server spoken to in raw JSON-RPC lines, every line it writes kept and checked.

    A thread reads stdout: each line must be one complete JSON object (no
    partial write, no stray output). ``request`` sends a line and waits, with a
    deadline, for the one answer carrying its id.
    """

    def __init__(self, project: Path, env: Mapping[str, str], stderr_path: Path) -> None:
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            server_argv(project),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=project,
            env=dict(env),
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.received: list[dict[str, object]] = []
        self.last_line_bytes = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ids = itertools.count(1)
        answer = self.request_raw(json.dumps(INITIALIZE).encode(), "init")
        assert "result" in answer, answer
        self.send(json.dumps(INITIALIZED).encode())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, line: bytes) -> None:
        """Write one line (the newline is added), failing the test if the server stops reading."""
        assert self.proc.stdin is not None
        done = threading.Event()
        failure: list[BaseException] = []

        def write() -> None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line + b"\n")
                self.proc.stdin.flush()
            except BaseException as e:  # reported below
                failure.append(e)
            finally:
                done.set()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        if not done.wait(DEADLINE_S):
            pytest.fail("the server stopped reading its stdin")
        if failure:
            raise failure[0]

    def next_message(self, timeout_s: float = DEADLINE_S) -> dict[str, object]:
        """The next line the server wrote, parsed; fails on a hang or on a line that is not JSON."""
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(f"no answer from the stdio server within {timeout_s} s")
        assert line.endswith(b"\n"), f"a partial line: {line[:200]!r}"
        self.last_line_bytes = len(line)
        message = json.loads(line)
        assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", line[:200]
        self.received.append(message)
        return message

    def request_raw(self, line: bytes, request_id: object) -> dict[str, object]:
        """Send ``line`` and return the one answer for ``request_id`` (notifications skipped)."""
        self.send(line)
        while True:
            message = self.next_message()
            if "method" in message:
                continue  # a notification or a request from the server
            assert message.get("id") == request_id, message
            return message

    def call_tool(self, name: str, arguments_json: str) -> dict[str, object]:
        request_id = next(self._ids)
        line = tool_call_line(request_id, name, arguments_json)
        return self.request_raw(line.encode(), request_id)

    def list_tools(self) -> list[object]:
        request_id = next(self._ids)
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/list"})
        answer = self.request_raw(line.encode(), request_id)
        result = answer["result"]
        assert isinstance(result, dict)
        tools = result["tools"]
        assert isinstance(tools, list)
        return tools

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=DEADLINE_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._stderr.close()


class RawHttpSession:
    """One MCP session over streamable HTTP, spoken to in raw POSTs (JSON or SSE answers)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session_id: str | None = None
        self._ids = itertools.count(1)
        status, answer, headers = self.post(json.dumps(INITIALIZE).encode())
        assert status == 200 and "result" in answer, answer
        self.session_id = headers.get("mcp-session-id")
        status, _, _ = self.post(json.dumps(INITIALIZED).encode())
        assert status == 202

    def post(
        self, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, object], dict[str, str]]:
        """POST ``body``; the status, the one JSON-RPC message answered, and the headers."""
        sent = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2025-06-18",
            **({"mcp-session-id": self.session_id} if self.session_id else {}),
            **(headers or {}),
        }
        request = urllib.request.Request(self.url, data=body, method="POST", headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
                status, raw = response.status, response.read()
                got = {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as e:
            status, raw, got = e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}
        return status, _one_message(raw, got.get("content-type", "")), got

    def call_tool(self, name: str, arguments_json: str) -> tuple[int, dict[str, object]]:
        request_id = next(self._ids)
        body = tool_call_line(request_id, name, arguments_json)
        status, answer, _ = self.post(body.encode())
        assert answer.get("id") in {request_id, None}, answer
        return status, answer


def _one_message(raw: bytes, content_type: str) -> dict[str, object]:
    if not raw:
        return {}
    if content_type.startswith("text/event-stream"):
        messages = [
            json.loads(line[len(b"data:") :])
            for line in raw.splitlines()
            if line.startswith(b"data:") and line[len(b"data:") :].strip()
        ]
        answers = [m for m in messages if "method" not in m]
        assert len(answers) == 1, messages
        return dict(answers[0])
    message = json.loads(raw)
    assert isinstance(message, dict), raw[:200]
    return message
