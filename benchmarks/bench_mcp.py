"""What the MCP layer adds to a tool call, against calling the handler directly.

The same ``create_tickets_from_output`` call (a few lines of text, nothing
stored) is made N times through ``ClaudeToolHandler.handle_tool_call`` in this
process (the baseline), then through the real MCP client to a
``python -m claude_pm mcp`` server over stdio and over streamable HTTP on
127.0.0.1. Also measured: the server's start-up, from spawn to the first
``tools/list`` answer.

    python benchmarks/bench_mcp.py [--calls N]

Target: an MCP round trip stays within a few milliseconds of the direct call.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from claude_pm.config import load_settings
from claude_pm.tools.handler import ClaudeToolHandler

ARGS = {
    "output_text": "TODO: cache the parse\nFIXME: off-by-one in pager\nnothing here\n",
    "source_agent": "qa",
}


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def direct(project: Path, calls: int) -> list[float]:
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))
    handler.handle_tool_call("create_tickets_from_output", ARGS)  # warm up
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        result = handler.handle_tool_call("create_tickets_from_output", ARGS)
        samples.append(time.perf_counter() - start)
        assert result["tickets_found"] == 2
    return samples


async def through(client_target: Any, calls: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    async with Client(client_target) as client:
        await client.list_tools()
        startup = time.perf_counter() - start
        await client.call_tool("create_tickets_from_output", ARGS)  # warm up
        samples = []
        for _ in range(calls):
            begin = time.perf_counter()
            result = await client.call_tool("create_tickets_from_output", ARGS)
            samples.append(time.perf_counter() - begin)
            assert not result.is_error
    return startup, samples


def http(project: Path, calls: int) -> list[float]:
    argv = [sys.executable, "-m", "claude_pm", "--project", str(project), "mcp", "--http"]
    proc = subprocess.Popen(
        [*argv, "--port", "0"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stderr is not None
        line = ""
        while "listening on " not in line:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("the HTTP server did not start")
        url = line.split("listening on ", 1)[1].split()[0]
        return anyio.run(through, url, calls)[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        base = direct(project, args.calls)
        stdio_params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "claude_pm", "--project", str(project), "mcp"],
            env=dict(os.environ),
        )
        startup, over_stdio = anyio.run(through, stdio_params, args.calls)
        over_http = http(project, args.calls)
    rows = [
        ("handler call, in process (baseline)", _ms(base)),
        ("MCP tools/call over stdio", _ms(over_stdio)),
        ("MCP tools/call over streamable HTTP", _ms(over_http)),
    ]
    print(f"| measure ({args.calls} calls, median) | ms | ratio to baseline |")
    print("| --- | ---: | ---: |")
    for name, value in rows:
        print(f"| {name} | {value:.3f} | {value / rows[0][1]:.1f} |")
    print(f"| stdio server start-up to first tools/list | {startup * 1000:.0f} | - |")
    print()
    print(
        f"Load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on "
        f"{os.cpu_count()} cores: one client's latencies swing with it (bench_mcp_load.py, "
        "whose phases take turns, compares servers under load)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
