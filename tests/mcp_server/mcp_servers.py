"""Starting real ``python -m claude_pm mcp`` servers for the tests, and waiting on them.

Every server here is a real process; agents are real process trees whose pids
the tests watch die.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
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
