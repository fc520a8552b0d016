"""Overhead of the claude-code backend: a run through claude-pm against ``claude -p`` run directly.

Both run the Claude Code CLI bundled in ``claude-agent-sdk`` with the same
argv (built by the backend's own ``build_argv``), the same environment, the
same prompt on stdin and the same working directory, against the same scripted
Messages API on 127.0.0.1 (``tests/fakes/claude_code_api.py``, also the HTTPS
proxy: nothing leaves loopback). The fake serves from a process of its own, so
neither side shares an interpreter with it. Runs alternate, so both see the
same machine.

The session is two turns (a Read of a project file, then the report). In the
first rows the fake answers at once, so what is measured is nearly all
start-up and process handling; in the last ones it answers each turn after
``--delay`` seconds (default 1), as a model takes time to answer: the same
fixed cost over a session closer to a real one.

- *first stream event*: from the start to the CLI's first line on stdout
  (direct), or to the first bytes in the run's ``claude-stream.jsonl``
  (through claude-pm: the tool call, the executor's start, the backend).
- *result, end to end*: until the direct CLI has exited with its result, or
  until ``execute_agent_subprocess`` returned (the report read, the ticket
  filed, the run recorded in SQLite).

    python benchmarks/bench_claude_code.py [--runs N] [--delay S]

Target: ratio (of the medians) at most 1.1 for both. On a shared machine the
spread between runs is wide; the ratio of the fastest run of each side shows
the cost with the least interference. Skips (exit 0, says why) without the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_pm import ClaudeToolHandler
from claude_pm.agents.backends import claude_code as cc
from claude_pm.agents.handoff import AgentSpec
from claude_pm.config import load_settings

TESTS = Path(__file__).resolve().parents[1] / "tests"
BODY = "You read the project and report what is open."
AGENT = f"""---
name: bench-reader
description: reads the project, for measuring the claude-code backend
tools: Read, Grep
model: claude-sonnet-5-5
backend: claude-code
env: [HTTPS_PROXY, HTTP_PROXY, NO_PROXY, DISABLE_AUTOUPDATER, DISABLE_TELEMETRY]
---
{BODY}
"""
TASK = "Say what is open."

#: The fake Messages API in a process of its own: argv is the notes file and the delay;
#: it prints its URL, serves until stdin closes, then prints the paths it refused.
SERVER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from fakes.claude_code_api import FakeClaudeCodeAPI, offers
from fakes.messages_api import message, text, tool_use
notes, delay = sys.argv[2], float(sys.argv[3])
def slow(answer):
    def turn(request):
        time.sleep(delay)
        return answer
    return turn
answers = [
    message(tool_use("Read", {"file_path": notes})),
    message(text("Nothing is open.\\nTODO: keep it that way"), output_tokens=12),
]
with FakeClaudeCodeAPI([slow(a) for a in answers], main=offers("Read")) as fake:
    print(fake.url, flush=True)
    sys.stdin.read()
print(json.dumps(fake.other_paths), flush=True)
"""


@contextmanager
def fake_api(notes: Path, delay_s: float) -> Iterator[str]:
    """The fake's URL while it serves; checks at the end that nothing tried to leave loopback."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(TESTS), str(notes), str(delay_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        refused = json.loads(server.stdout.readline() or "[]")
        server.wait(timeout=30)
        server.stdout.close()
    assert refused == [], f"Claude Code tried to leave loopback: {refused}"


def environment(project: Path, url: str, cli: str) -> dict[str, str]:
    scratch = project.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project.parent / "home"),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "CLAUDE_PM_CLAUDE_PATH": cli,
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "bench-key-not-a-secret",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "HTTPS_PROXY": url,
        "HTTP_PROXY": url,
        "NO_PROXY": "127.0.0.1,localhost",
    }


def direct(cli: str, env: dict[str, str], project: Path, prompt: Path) -> tuple[float, float]:
    """``claude -p`` with the backend's argv: seconds to its first line and to its exit."""
    agent = AgentSpec(
        name="bench-reader",
        agent_type="bench_reader",
        system_prompt=BODY,
        tools=("Read", "Grep"),
        model="claude-sonnet-5-5",
    )
    argv = cc.build_argv(cli, agent, session_id=str(uuid.uuid4())).argv
    child_env = cc.child_environment({k: v for k, v in env.items() if "CLAUDE_PM" not in k})
    started = time.perf_counter()
    with prompt.open("rb") as stdin:
        proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=child_env,
            cwd=project,
        )
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - started
    out = proc.stdout.read()
    proc.wait()
    done = time.perf_counter() - started
    proc.stdout.close()
    assert proc.returncode == 0 and b'"type":"result"' in out.replace(b" ", b""), out[-500:]
    return first, done


def through_claude_pm(handler: ClaudeToolHandler, runs_dir: Path) -> tuple[float, float]:
    """``execute_agent_subprocess``: seconds to the stream's first bytes and to the result."""
    before = set(runs_dir.iterdir()) if runs_dir.exists() else set()
    first: list[float] = []
    stop = threading.Event()
    started = time.perf_counter()

    def watch() -> None:
        while not stop.wait(0.005):
            fresh = set(runs_dir.iterdir()) - before if runs_dir.exists() else set()
            for run_dir in fresh:
                stream = run_dir / "claude-stream.jsonl"
                if stream.exists() and stream.stat().st_size > 0:
                    first.append(time.perf_counter() - started)
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "bench-reader", "task_description": TASK}
    )
    done = time.perf_counter() - started
    stop.set()
    watcher.join()
    assert result["success"] and result["backend"] == "claude-code", result
    return (first[0] if first else done), done


def measure(cli: str, runs: int, delay_s: float) -> list[tuple[str, list[float], list[float]]]:
    """Alternate ``runs`` direct and claude-pm sessions; the rows of the table."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / ".claude" / "agents").mkdir(parents=True)
        (project / ".claude" / "agents" / "bench-reader.md").write_text(AGENT, encoding="utf-8")
        (Path(tmp) / "home").mkdir()
        prompt = Path(tmp) / "prompt.txt"
        prompt.write_text(TASK, encoding="utf-8")
        notes = project / "NOTES.md"
        notes.write_text("Nothing is open.\n", encoding="utf-8")
        with fake_api(notes, delay_s) as url:
            env = environment(project, url, cli)
            settings = load_settings(project_root=project, environ=env)
            handler = ClaudeToolHandler(settings=settings)
            through_claude_pm(handler, settings.runs_dir)  # warm: page cache, SQLite file
            direct(cli, env, project, prompt)
            direct_first, direct_done, pm_first, pm_done = [], [], [], []
            for _ in range(runs):
                first, done = direct(cli, env, project, prompt)
                direct_first.append(first)
                direct_done.append(done)
                first, done = through_claude_pm(handler, settings.runs_dir)
                pm_first.append(first)
                pm_done.append(done)
    return [
        ("first stream event", direct_first, pm_first),
        ("result, end to end", direct_done, pm_done),
    ]


def version(cli: str) -> str:
    marker = Path(cli).with_name("claude.version")
    return marker.read_text().split()[0] if marker.exists() else "(bundled)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds per answer (last rows)")
    args = parser.parse_args()
    cli = cc.bundled_cli()
    if cli is None:
        print("Skipped: claude-agent-sdk (which bundles the Claude Code CLI) is not installed.")
        return 0
    load_before = os.getloadavg()[0]
    rows = [(delay_s, measure(cli, args.runs, delay_s)) for delay_s in (0.0, args.delay)]
    print(
        f"Claude Code {version(cli)}; a two-turn session (Read, then the report) against the "
        f"scripted Messages API on 127.0.0.1; median of {args.runs}; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
    )
    print()
    print(
        "| fake answers | measure | `claude -p` | through claude-pm | added | ratio "
        "| ratio of the fastest runs | target |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for delay_s, measured in rows:
        how = "at once" if not delay_s else f"after {delay_s:g} s a turn"
        for name, base, ours in measured:
            b, o = statistics.median(base), statistics.median(ours)
            print(
                f"| {how} | {name} | {b * 1000:.0f} ms | {o * 1000:.0f} ms | "
                f"{(o - b) * 1000:+.0f} ms | {o / b:.2f}x | {min(ours) / min(base):.2f}x "
                "| <= 1.1x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
