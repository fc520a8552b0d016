"""claude-pm's MCP server under load, against the MCP SDK's own minimal server.

Both servers run in their own process, over streamable HTTP on 127.0.0.1, under
the same load: N concurrent clients (real ``mcp.Client`` sessions, in one
client process) calling tools back to back for D seconds each phase.

- baseline: ``mcp.server.MCPServer`` with one no-op tool, served by the SDK's
  own streamable HTTP app under uvicorn;
- reference, same payload: that server's second tool, which returns exactly
  the result claude-pm's discovery returns (about 20 kB, text and structured
  content), so the payload's own cost on both ends of the wire shows apart
  from claude-pm's;
- claude-pm, mixed: ``claude-pm mcp --http`` on a temporary project, the
  clients alternating ``discover_available_agents`` and short agent runs (a
  ``command`` agent written with ``claude_pm.testing.write_python_agent``);
- claude-pm, discover only: the same server, every call
  ``discover_available_agents``.

Both servers run side by side and the phases take turns in slices of about
five seconds (baseline, mixed, discover only, again...), so that the shared
machine's load swings reach all three alike. Each server is warmed up first;
its RSS is read after start, after warm-up, and at the end. Reported:
requests/s, p50, p99, the server's own CPU time per call (steadier than
throughput on a shared machine), errors, and each as a ratio to the baseline
measured in the same run.

    python benchmarks/bench_mcp_load.py [--clients 32] [--duration 30] [--quick]

Targets: discover throughput >= 0.8x the no-op server's, p50 and p99 within
1.3x of it, 0 errors, RSS flat after warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types
import psutil
from mcp import Client

from claude_pm.testing import write_python_agent

AGENT = "quick"
AGENT_CODE = "import sys; sys.stdin.read(); print('done')"
RUN_ARGS = {"agent_type": AGENT, "task_description": "a short run", "timeout": 60}


@dataclass
class Phase:
    """What one phase of load measured."""

    name: str
    seconds: float
    latencies_s: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""
    #: CPU seconds the server process spent (its own threads, not the agents it ran).
    server_cpu_s: float = 0.0

    @property
    def calls(self) -> int:
        return sum(len(v) for v in self.latencies_s.values())

    def all_latencies(self) -> list[float]:
        return sorted(x for v in self.latencies_s.values() for x in v)

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_ms_per_call(self) -> float:
        return self.server_cpu_s / self.calls * 1000 if self.calls else float("nan")

    def percentile_ms(self, fraction: float, kind: str | None = None) -> float:
        values = sorted(self.latencies_s[kind]) if kind else self.all_latencies()
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(fraction * len(values)))] * 1000


# --- the servers ----------------------------------------------------------------------------


def serve_noop(payload_file: str) -> None:
    """The baseline server: the SDK's MCPServer, one no-op tool, streamable HTTP on loopback.

    Its second tool, ``payload``, returns the result stored in ``payload_file``.
    """
    import uvicorn
    from mcp.server import MCPServer

    # Logging at WARNING, as claude-pm's server does (MCPServer's default, INFO, logs every call).
    app = MCPServer("noop", log_level="WARNING")
    stored = mcp_types.CallToolResult.model_validate_json(Path(payload_file).read_text())

    @app.tool()
    async def noop() -> str:
        """Do nothing."""
        return "ok"

    @app.tool()
    async def payload() -> mcp_types.CallToolResult:
        """Return the stored result."""
        return stored

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            port = self.servers[0].sockets[0].getsockname()[1]
            print(f"listening on http://127.0.0.1:{port}/mcp", file=sys.stderr, flush=True)

    config = uvicorn.Config(
        app.streamable_http_app(host="127.0.0.1"),
        host="127.0.0.1",
        port=0,
        log_level="warning",
    )
    _Server(config).run()


@contextlib.contextmanager
def running(argv: list[str], env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """Start a server that prints ``listening on URL`` on stderr; yield the URL and its pid.

    Its stderr goes to a file, so that a server that logs cannot block on a full pipe.
    """
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(argv, stderr=log, stdout=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + 60
            text = ""
            while "listening on " not in text:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the server did not start: {argv}: {log.read()}")
                time.sleep(0.05)
                log.seek(0)
                text = log.read()
            url = text.split("listening on ", 1)[1].split()[0]
            yield url, proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


# --- the load -------------------------------------------------------------------------------

Call = Callable[[Client, int], Awaitable[tuple[str, bool, str]]]


async def noop_call(client: Client, n: int) -> tuple[str, bool, str]:
    result = await client.call_tool("noop", {})
    return "noop", not result.is_error, ""


async def payload_call(client: Client, n: int) -> tuple[str, bool, str]:
    result = await client.call_tool("payload", {})
    return "payload", not result.is_error and bool(result.structured_content), ""


async def discover_call(client: Client, n: int) -> tuple[str, bool, str]:
    result = await client.call_tool("discover_available_agents", {})
    ok = not result.is_error and bool(result.structured_content)
    return "discover", ok, "" if ok else str(result.content)[:200]


async def mixed_call(client: Client, n: int) -> tuple[str, bool, str]:
    if n % 2 == 0:
        return await discover_call(client, n)
    result = await client.call_tool("execute_agent_subprocess", RUN_ARGS)
    content = result.structured_content or {}
    ok = not result.is_error and content.get("output") == "done\n"
    return "agent run", ok, "" if ok else str(content.get("error") or result.content)[:200]


async def load(url: str, clients: int, seconds: float, call: Call, name: str) -> Phase:
    """``clients`` sessions calling ``call`` back to back for ``seconds``."""
    phase = Phase(name, seconds)
    ready = anyio.Event()
    connected = 0
    deadline = 0.0

    async def one_client(index: int) -> None:
        nonlocal connected, deadline
        async with Client(url) as client:
            connected += 1
            if connected == clients:
                deadline = time.perf_counter() + seconds
                ready.set()
            await ready.wait()
            n = index
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    kind, ok, why = await call(client, n)
                except Exception as e:
                    kind, ok, why = "exception", False, f"{type(e).__name__}: {e}"
                phase.latencies_s.setdefault(kind, []).append(time.perf_counter() - start)
                if not ok:
                    phase.errors += 1
                    phase.first_error = phase.first_error or why
                n += 1

    async with anyio.create_task_group() as tg:
        for index in range(clients):
            tg.start_soon(one_client, index)
    return phase


@dataclass
class ServerRun:
    rss_start_mb: float
    rss_warm_mb: float
    rss_end_mb: float
    phases: list[Phase]


#: Seconds per slice: the phases take turns, so load swings on the machine hit them alike.
SLICE_S = 5.0


def merge(name: str, slices: list[Phase]) -> Phase:
    merged = Phase(name, sum(p.seconds for p in slices))
    for part in slices:
        for kind, values in part.latencies_s.items():
            merged.latencies_s.setdefault(kind, []).extend(values)
        merged.errors += part.errors
        merged.first_error = merged.first_error or part.first_error
        merged.server_cpu_s += part.server_cpu_s
    return merged


def measure(
    servers: dict[str, tuple[str, int]],
    plan: list[tuple[str, str, Call]],
    clients: int,
    warmup_s: float,
    duration_s: float,
) -> dict[str, ServerRun]:
    """Warm each server up, then run the ``(phase, server, call)`` plan in turns."""
    rss_start = {name: rss_mb(pid) for name, (_, pid) in servers.items()}
    for phase, server, call in plan:
        anyio.run(load, servers[server][0], clients, warmup_s, call, f"warm-up {phase}")
    rss_warm = {name: rss_mb(pid) for name, (_, pid) in servers.items()}
    rounds = max(1, round(duration_s / SLICE_S))
    slices: dict[str, list[Phase]] = {phase: [] for phase, _, _ in plan}
    for _ in range(rounds):
        for phase, server, call in plan:
            url, pid = servers[server]
            before = cpu_s(pid)
            measured = anyio.run(load, url, clients, duration_s / rounds, call, phase)
            measured.server_cpu_s = cpu_s(pid) - before
            slices[phase].append(measured)
    return {
        name: ServerRun(
            rss_start[name],
            rss_warm[name],
            rss_mb(pid),
            [merge(phase, slices[phase]) for phase, server, _ in plan if server == name],
        )
        for name, (_, pid) in servers.items()
    }


# --- the report -----------------------------------------------------------------------------


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def report(
    clients: int, duration: float, base: ServerRun, ours: ServerRun, load: tuple[float, float]
) -> str:
    baseline = base.phases[0]
    rows = [
        f"{clients} clients, {duration:g} s per phase in {SLICE_S:g} s turns, streamable HTTP on "
        "127.0.0.1; ratios against the no-op SDK server of the same run. Load average "
        f"{load[0]:.1f} at the start, {load[1]:.1f} at the end, on {os.cpu_count()} cores.",
        "",
        "| phase | calls | req/s | ratio | p50 ms | ratio | p99 ms | ratio | server CPU "
        "ms/call | ratio | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(label: str, phase: Phase, kind: str | None = None) -> str:
        count = len(phase.latencies_s.get(kind, [])) if kind else phase.calls
        rate = count / phase.seconds
        p50, p99 = phase.percentile_ms(0.5, kind), phase.percentile_ms(0.99, kind)
        errors = phase.errors if kind is None else "-"
        cpu = phase.cpu_ms_per_call
        cpu_cells = (
            f"{cpu:.2f} | {_ratio(cpu, baseline.cpu_ms_per_call)}" if kind is None else "- | -"
        )
        return (
            f"| {label} | {count} | {rate:.0f} | {_ratio(rate, baseline.per_second)} | "
            f"{p50:.0f} | {_ratio(p50, baseline.percentile_ms(0.5))} | {p99:.0f} | "
            f"{_ratio(p99, baseline.percentile_ms(0.99))} | {cpu_cells} | {errors} |"
        )

    rows.append(row("baseline: MCPServer, one no-op tool", baseline))
    same_payload = base.phases[1]
    rows.append(row("reference: MCPServer returning the discovery's payload", same_payload))
    mixed, discover = ours.phases
    rows.append(row("claude-pm, discover only", discover))
    rows.append(row("claude-pm, mixed (all calls)", mixed))
    for kind in ("discover", "agent run"):
        if kind in mixed.latencies_s:
            rows.append(row(f"claude-pm, mixed: {kind}", mixed, kind))
    rows += [
        "",
        "| server | RSS after start | after warm-up | at the end | end / warm-up |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, run in (("baseline (no-op)", base), ("claude-pm", ours)):
        rows.append(
            f"| {label} | {run.rss_start_mb:.0f} MB | {run.rss_warm_mb:.0f} MB | "
            f"{run.rss_end_mb:.0f} MB | {run.rss_end_mb / run.rss_warm_mb:.2f} |"
        )
    errors = [p for p in (*base.phases, *ours.phases) if p.errors]
    for phase in errors:
        rows += ["", f"first error in {phase.name}: {phase.first_error}"]
    rate = discover.per_second / baseline.per_second
    p50 = discover.percentile_ms(0.5) / baseline.percentile_ms(0.5)
    p99 = discover.percentile_ms(0.99) / baseline.percentile_ms(0.99)
    cpu = discover.cpu_ms_per_call / baseline.cpu_ms_per_call
    rows += [
        "",
        "The reference sends claude-pm's discovery result from the SDK's own server: what is "
        "left between it and claude-pm is claude-pm's, the rest of the gap to the no-op server "
        "is the payload's (on both ends of the wire). Against the reference: claude-pm's "
        f"discovery {discover.per_second / same_payload.per_second:.2f}x the throughput, p50 "
        f"{discover.percentile_ms(0.5) / same_payload.percentile_ms(0.5):.2f}x, p99 "
        f"{discover.percentile_ms(0.99) / same_payload.percentile_ms(0.99):.2f}x, server CPU per "
        f"call {discover.cpu_ms_per_call / same_payload.cpu_ms_per_call:.2f}x.",
        "",
        f"Targets (discover only vs the no-op server): throughput {rate:.2f}x (>= 0.8x), "
        f"p50 {p50:.2f}x and p99 {p99:.2f}x (<= 1.3x; server CPU per call {cpu:.2f}x), errors "
        f"{sum(p.errors for p in (*base.phases, *ours.phases))} (0), RSS end / warm-up "
        f"{ours.rss_end_mb / ours.rss_warm_mb:.2f} (flat).",
    ]
    return "\n".join(rows)


async def discovery_payload(url: str) -> str:
    """The result claude-pm's server sends for ``discover_available_agents``, as JSON."""
    async with Client(url) as client:
        result = await client.call_tool("discover_available_agents", {})
    return result.model_dump_json(by_alias=True, exclude_none=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up")
    parser.add_argument("--quick", action="store_true", help="3 s phases, 1 s warm-up")
    parser.add_argument("--serve-noop", metavar="PAYLOAD_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop(args.serve_noop)
        return 0
    duration, warmup = (3.0, 1.0) if args.quick else (args.duration, args.warmup)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        project, home = Path(tmp) / "project", Path(tmp) / "home"
        project.mkdir()
        home.mkdir()
        write_python_agent(project, AGENT, AGENT_CODE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
        env.update(HOME=str(home), CLAUDE_PM_USER_AGENTS_DIR=str(home / ".claude" / "agents"))
        payload_file = Path(tmp) / "payload.json"
        argv = [sys.executable, "-m", "claude_pm", "--project", str(project), "mcp", "--http"]
        with contextlib.ExitStack() as stack:
            claude_pm = stack.enter_context(running([*argv, "--port", "0"], env))
            payload_file.write_text(anyio.run(discovery_payload, claude_pm[0]))
            noop = stack.enter_context(
                running([sys.executable, __file__, "--serve-noop", str(payload_file)])
            )
            runs = measure(
                {"baseline": noop, "claude-pm": claude_pm},
                [
                    ("baseline", "baseline", noop_call),
                    ("same payload", "baseline", payload_call),
                    ("mixed", "claude-pm", mixed_call),
                    ("discover only", "claude-pm", discover_call),
                ],
                args.clients,
                warmup,
                duration,
            )
    base, ours = runs["baseline"], runs["claude-pm"]
    print(report(args.clients, duration, base, ours, (load_start, os.getloadavg()[0])))
    failed = any(p.errors for p in (*base.phases, *ours.phases))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
