"""The stdio transport: a real ``python -m claude_pm mcp`` spoken to in raw JSON-RPC lines."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_servers import DEADLINE_S, SLEEPER, server_argv, sleeper_pids

from waiting import alive, wait_for


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
        server_argv(project),
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
        yield proc, sleeper_pids(project)
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
