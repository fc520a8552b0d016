"""Run every benchmark and write BENCHMARKS.md from what they print.

    python benchmarks/run_all.py            # all, then rewrite BENCHMARKS.md
    python benchmarks/run_all.py --print    # all, print instead of writing
    python benchmarks/run_all.py --only bench_review.py   # one, its section replaced in place

Each benchmark script measures its own baseline in the same run and prints
Markdown; this script only adds the machine description and the commands.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES: list[tuple[str, str, list[str]]] = [
    ("Agent run overhead", "bench_overhead.py", []),
    ("Supervision: memory enforcement, output flood, sampling cost", "bench_supervisor.py", []),
    ("Agent registry: discovery of 1,000 definitions", "bench_registry.py", []),
    ("Tickets: extraction throughput and concurrent store", "bench_tickets.py", []),
    ("MCP: tool-call cost over stdio and HTTP", "bench_mcp.py", []),
    ("Workflows on Ray: a 200-task graph against local threads", "bench_ray.py", []),
    ("claude-code backend: overhead against `claude -p` directly", "bench_claude_code.py", []),
    ("MCP under load: 32 clients over streamable HTTP", "bench_mcp_load.py", []),
    ("Soak: 2,000 agent runs through one handler", "bench_soak.py", []),
    ("Workflows: makespan, scheduling overhead, resume after SIGKILL", "bench_workflow.py", []),
    ("`claude-pm review` of the sample project: wall time, bytes returned", "bench_review.py", []),
]


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print", action="store_true", help="print instead of writing the file")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="SCRIPT",
        help="run only this benchmark script (repeatable) and replace its section of "
        "BENCHMARKS.md, keeping the others",
    )
    args = parser.parse_args()
    scripts = {script for _, script, _ in BENCHES}
    for name in args.only or ():
        if name not in scripts:
            parser.error(f"--only {name}: not a benchmark; one of {', '.join(sorted(scripts))}")
    parts = [
        "# Benchmarks",
        "",
        "Every figure is measured against a baseline measured in the same run, on a shared "
        "machine: expect a few percent of noise between runs. Regenerate this file with "
        "`python benchmarks/run_all.py`.",
        "",
        f"Last run: {time.strftime('%Y-%m-%d', time.gmtime())}, {machine()}.",
        "",
    ]
    failed = False
    sections: dict[str, str] = {}
    for title, script, extra in BENCHES:
        if args.only and script not in args.only:
            continue
        command = ["python", f"benchmarks/{script}", *extra]
        print(f"running {' '.join(command)} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, str(HERE / script), *extra],
            capture_output=True,
            text=True,
            cwd=HERE.parent,
        )
        took = time.monotonic() - started
        day = time.strftime("%Y-%m-%d", time.gmtime())
        section = [f"## {title}", "", f"Command: `{' '.join(command)}` ({took:.0f} s, {day})", ""]
        if out.returncode != 0:
            failed = True
            section += ["**Failed:**", "", "```", out.stderr[-3000:], "```", ""]
        else:
            section += [out.stdout.strip(), ""]
        sections[title] = "\n".join(section)
        parts += section
    text = "\n".join(parts)
    if args.only:
        text = _replace_sections(
            (HERE.parent / "BENCHMARKS.md").read_text(encoding="utf-8"), sections
        )
    if args.print:
        print(text)
    else:
        (HERE.parent / "BENCHMARKS.md").write_text(text, encoding="utf-8")
        print("wrote BENCHMARKS.md", file=sys.stderr)
    return 1 if failed else 0


def _replace_sections(text: str, sections: dict[str, str]) -> str:
    """``text`` with each ``## title`` section replaced (appended when it is not there yet)."""
    for title, body in sections.items():
        head = f"## {title}\n"
        start = text.find(head)
        if start < 0:
            text = text.rstrip("\n") + "\n\n" + body
            continue
        end = text.find("\n## ", start + len(head))
        text = text[:start] + body + (text[end + 1 :] if end >= 0 else "")
    return text


if __name__ == "__main__":
    sys.exit(main())
