"""``claude-pm mcp`` against the real MCP client, over stdio and streamable HTTP.

Every server here is a real ``python -m claude_pm mcp`` process; agents are
real process trees whose pids the tests watch die.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from claude_pm.errors import InvalidInput
from claude_pm.mcp_server import HttpOptions, InFlightCalls, is_loopback
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS
from waiting import alive, wait_for

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


def _server_argv(project: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "claude_pm", "--project", str(project), "mcp", *extra]


def _stdio(project: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=_server_argv(project)[1:],
        env=dict(os.environ),
        cwd=str(project),
    )


async def _await_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await anyio.sleep(0.02)


def _pids(project: Path) -> list[int]:
    return [int(p) for p in (project / "sleeper.pids").read_text().split()]


# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_loopback_host_needs_a_token() -> None:
    with pytest.raises(InvalidInput) as info:
        HttpOptions(host="0.0.0.0", port=8765)
    assert "--token" in info.value.message
    assert HttpOptions(host="0.0.0.0", port=8765, token="s3cret").token == "s3cret"
    with pytest.raises(InvalidInput):
        HttpOptions(port=70000)


def test_in_flight_calls_are_all_cancelled_on_shutdown() -> None:
    calls = InFlightCalls()
    first, second = calls.begin(), calls.begin()
    assert calls.cancel_all() == 2
    assert first.is_set() and second.is_set()
    assert calls.begin().is_set(), "a call that starts during shutdown is cancelled at once"
    calls.end(first)
    assert not calls.wait_idle(0.01)


# --- stdio ----------------------------------------------------------------------------------


def test_stdio_lists_exactly_the_four_schemas_and_reports_errors_as_tool_errors(
    project: Path,
) -> None:
    async def main() -> None:
        async with Client(_stdio(project)) as client:
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == [t["name"] for t in CLAUDE_PM_TOOLS]
            for tool, source in zip(listed, CLAUDE_PM_TOOLS, strict=True):
                assert tool.input_schema == source["parameters"]
                assert tool.description == source["description"]
                assert tool.annotations is not None
            assert listed[1].annotations.read_only_hint is True  # type: ignore[union-attr]

            ok = await client.call_tool(
                "create_tickets_from_output",
                {"output_text": "BUG: crash on empty input", "source_agent": "qa"},
            )
            assert ok.is_error is False
            assert ok.structured_content is not None
            assert ok.structured_content["tickets_found"] == 1
            assert json.loads(ok.content[0].text) == ok.structured_content  # type: ignore[union-attr]

            bad = await client.call_tool("create_tickets_from_output", {"output_text": 42})
            assert bad.is_error is True
            text = bad.content[0].text  # type: ignore[union-attr]
            assert text.startswith("Error: Invalid arguments for create_tickets_from_output")
            assert "source_agent" in text
            assert bad.structured_content is not None
            assert bad.structured_content["error_type"] == "InvalidInput"

            unknown = await client.call_tool("deploy_to_prod", {})
            assert unknown.is_error is True
            assert "Use one of: execute_agent_subprocess" in unknown.content[0].text  # type: ignore[union-attr]

            workflow = await client.call_tool(
                "coordinate_multi_agent_workflow",
                {"workflow_description": "w", "agent_tasks": [{"agent_type": "qa", "task": "t"}]},
            )
            assert workflow.is_error is True
            assert "execute_agent_subprocess" in workflow.content[0].text  # type: ignore[union-attr]

            still_there = await client.list_tools()
            assert len(still_there.tools) == 4

    anyio.run(main)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_stdio_progress_then_cancel_kills_the_agent_tree(
    project: Path, write_agent: Any, mode: str
) -> None:
    write_agent("sleeper", SLEEPER)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def main() -> None:
        async with Client(_stdio(project), mode=mode) as client:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await client.call_tool(
                        "execute_agent_subprocess",
                        {"agent_type": "sleeper", "task_description": "wait", "timeout": 300},
                        progress_callback=on_progress,
                    )
                    pytest.fail("the call should have been cancelled")

                tg.start_soon(call)
                await _await_for(lambda: (project / "sleeper.pids").exists(), "the agent")
                await _await_for(lambda: bool(progress), "a progress notification")
                tg.cancel_scope.cancel()

            pids = _pids(project)
            await _await_for(lambda: not any(alive(p) for p in pids), "the agent tree to die")
            # The server survives a cancelled call and keeps serving.
            after = await client.call_tool("deploy_to_prod", {})
            assert after.is_error is True

    anyio.run(main)
    _, total, message = progress[0]
    assert total == 300
    assert message and message.startswith("sleeper:")
    assert all(a[0] < b[0] for a, b in itertools.pairwise(progress))


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


@contextlib.contextmanager
def raw_server_running_sleeper(
    project: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    """A stdio server, spoken to in raw JSON-RPC, with a sleeper agent call in flight."""
    proc = subprocess.Popen(
        _server_argv(project),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=project,
    )
    try:
        _send(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"},
                },
            },
        )
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["id"] == 1
        _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _send(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "execute_agent_subprocess",
                    "arguments": {"agent_type": "sleeper", "task_description": "wait"},
                },
            },
        )
        wait_for(lambda: (project / "sleeper.pids").exists(), "the agent")
        yield proc, _pids(project)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stdio_server_exits_on_signal_and_kills_agents_in_flight(
    project: Path, write_agent: Any, signum: int
) -> None:
    write_agent("sleeper", SLEEPER)
    with raw_server_running_sleeper(project) as (proc, pids):
        # stdin stays open, as a client that only signals would leave it.
        proc.send_signal(signum)
        assert proc.wait(timeout=DEADLINE_S) == 0
        wait_for(lambda: not any(alive(p) for p in pids), "the agent tree to die", 10)


def test_stdio_server_exits_when_the_client_closes_stdin_mid_call(
    project: Path, write_agent: Any
) -> None:
    write_agent("sleeper", SLEEPER)
    with raw_server_running_sleeper(project) as (proc, pids):
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=DEADLINE_S) == 0
        wait_for(lambda: not any(alive(p) for p in pids), "the agent tree to die", 10)


# --- streamable HTTP ------------------------------------------------------------------------


@contextlib.contextmanager
def http_server(project: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``mcp --http --port 0``; yield its URL and process; stop it with SIGTERM."""
    proc = subprocess.Popen(
        _server_argv(project, "--http", "--port", "0", *extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
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


def _post(url: str, headers: dict[str, str], method: str = "POST") -> tuple[int, dict[str, str]]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    request = urllib.request.Request(
        url,
        data=body if method == "POST" else None,
        method=method,
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


def test_http_serves_the_tools_on_loopback_without_cors(project: Path) -> None:
    with http_server(project) as (url, _):
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")

        async def main() -> None:
            async with Client(url) as client:
                listed = (await client.list_tools()).tools
                assert [t.input_schema for t in listed] == [
                    t["parameters"] for t in CLAUDE_PM_TOOLS
                ]
                result = await client.call_tool(
                    "create_tickets_from_output",
                    {"output_text": "SECURITY: token in logs", "source_agent": "security"},
                )
                assert result.is_error is False
                assert result.structured_content is not None
                assert result.structured_content["tickets_found"] == 1
                error = await client.call_tool("execute_agent_subprocess", {"agent_type": "qa"})
                assert error.is_error is True

        anyio.run(main)

        status, headers = _post(url, {"origin": "https://evil.example"})
        assert status >= 400
        assert "access-control-allow-origin" not in headers
        status, headers = _post(
            url,
            {"origin": "https://evil.example", "access-control-request-method": "POST"},
            method="OPTIONS",
        )
        assert "access-control-allow-origin" not in headers


def test_http_with_a_token_rejects_requests_without_it(project: Path) -> None:
    with http_server(project, "--token", "s3cret-token") as (url, _):
        assert _post(url, {})[0] == 401
        assert _post(url, {"authorization": "Bearer wrong"})[0] == 401
        status, headers = _post(url, {"authorization": "Basic s3cret-token"})
        assert status == 401
        assert headers["www-authenticate"].startswith("Bearer")

        async def main() -> None:
            http = httpx2.AsyncClient(
                headers={"authorization": "Bearer s3cret-token"},
                timeout=httpx2.Timeout(30, read=300),
            )
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                assert len((await client.list_tools()).tools) == 4

        anyio.run(main)


def test_http_server_stops_on_sigterm_and_kills_agents_in_flight(
    project: Path, write_agent: Any
) -> None:
    write_agent("sleeper", SLEEPER)
    results: list[Any] = []
    with http_server(project) as (url, proc):

        async def main() -> None:
            async with Client(url) as client, anyio.create_task_group() as tg:

                async def call() -> None:
                    results.append(
                        await client.call_tool(
                            "execute_agent_subprocess",
                            {"agent_type": "sleeper", "task_description": "wait"},
                        )
                    )

                tg.start_soon(call)
                await _await_for(lambda: (project / "sleeper.pids").exists(), "the agent")
                proc.send_signal(signal.SIGTERM)
                await _await_for(lambda: bool(results), "the cancelled call's result")

        anyio.run(main)
        pids = _pids(project)
        wait_for(lambda: not any(alive(p) for p in pids), "the agent tree to die")
        # uvicorn re-raises the signal once it has stopped: 128 + SIGTERM, or 0.
        assert proc.wait(timeout=DEADLINE_S) in {0, 128 + signal.SIGTERM}
    [result] = results
    assert result.is_error is True
    assert result.structured_content["status"] == "cancelled"


def test_http_refuses_a_public_address_without_a_token(project: Path) -> None:
    done = subprocess.run(
        _server_argv(project, "--http", "--host", "0.0.0.0"),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env={k: v for k, v in os.environ.items() if k != "CLAUDE_PM_MCP_TOKEN"},
        check=False,
    )
    assert done.returncode == 2
    assert "--token" in done.stderr


def test_http_options_need_http(project: Path) -> None:
    done = subprocess.run(
        _server_argv(project, "--port", "9999"),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 2
    assert "--http" in done.stderr
