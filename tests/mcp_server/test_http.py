"""The streamable HTTP transport: loopback, bearer token, CORS, shutdown.

Every server here is a real ``python -m claude_pm mcp --http`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_servers import (
    DEADLINE_S,
    SLEEPER,
    RawHttpSession,
    await_for,
    http_server,
    server_argv,
    sleeper_pids,
)

from claude_pm.errors import InvalidInput
from claude_pm.mcp_server import HttpOptions, is_loopback
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS
from waiting import alive, wait_for

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


# --- a real server --------------------------------------------------------------------------


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


def test_http_accepts_only_its_own_origin_among_loopback_ones(project: Path) -> None:
    """A page on another local port (or another loopback name) cannot drive the server."""
    with http_server(project) as (url, _):
        port = urllib.parse.urlsplit(url).port
        assert port is not None
        session = RawHttpSession(url)
        ping = b'{"jsonrpc":"2.0","id":"p","method":"ping"}'
        for foreign in (
            f"http://127.0.0.1:{port + 1}",
            "http://127.0.0.1:3000",
            f"http://localhost:{port}",
            f"http://[::1]:{port}",
            f"https://127.0.0.1:{port}",
        ):
            status, answer, _ = session.post(ping, {"origin": foreign})
            assert status == 403, foreign
            assert answer["error"]["message"].startswith(f"Forbidden: Origin {foreign} is not")
        for own in (f"http://127.0.0.1:{port}", None):
            status, answer, _ = session.post(ping, {"origin": own} if own else {})
            assert status == 200 and answer == {"jsonrpc": "2.0", "id": "p", "result": {}}


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
                await await_for(lambda: (project / "sleeper.pids").exists(), "the agent")
                proc.send_signal(signal.SIGTERM)
                await await_for(lambda: bool(results), "the cancelled call's result")

        anyio.run(main)
        pids = sleeper_pids(project)
        wait_for(lambda: not any(alive(p) for p in pids), "the agent tree to die")
        # uvicorn re-raises the signal once it has stopped: 128 + SIGTERM, or 0.
        assert proc.wait(timeout=DEADLINE_S) in {0, 128 + signal.SIGTERM}
    [result] = results
    assert result.is_error is True
    assert result.structured_content["status"] == "cancelled"


def test_http_refuses_a_public_address_without_a_token(project: Path) -> None:
    done = subprocess.run(
        server_argv(project, "--http", "--host", "0.0.0.0"),
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
        server_argv(project, "--port", "9999"),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 2
    assert "--http" in done.stderr
