"""Agent discovery over 1,000 definition files: cold, warm, after one edit, against a baseline.

Run: ``python benchmarks/bench_registry.py [--files 1000] [--repeat 7]``

The baseline is what a straightforward loader does: read every file and parse
its front matter with PyYAML's pure-Python ``SafeLoader``, in a loop. Targets
(from the issue): cold discovery under 150 ms, warm under 2 ms. Times are
medians over the repetitions; the OS page cache is warm for every row, so
"cold" means a new registry (nothing parsed yet), not a cold disk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from claude_pm.agents import parsing
from claude_pm.agents.parsing import split_front_matter
from claude_pm.agents.registry import AgentRegistry
from claude_pm.tools.results import discovery_result

SPECIALIZATIONS = ["testing", "security", "docs", "data", "deployment", "performance", "design"]
PROMPT = "\n".join(
    f"{i}. Check the code for problem number {i} and report it as a BUG: line." for i in range(40)
)


def write_definitions(directory: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        sub = directory / f"team{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        spec = SPECIALIZATIONS[i % len(SPECIALIZATIONS)]
        text = (
            "---\n"
            f"name: agent-{i:04d}\n"
            f"description: Agent {i} reviews {spec} concerns. Delegate to it when a change "
            f"touches {spec}; it reports findings as tickets and never edits files.\n"
            "tools: Read, Grep, Glob, Bash\n"
            "model: sonnet\n"
            f"specializations: [{spec}, review, agent{i % 50}]\n"
            "context_keys: [file_paths, test_config]\n"
            "timeout: 600\n"
            "memory_limit: 1024\n"
            "color: blue\n"
            "---\n\n"
            f"You are agent {i}.\n\n{PROMPT}\n"
        )
        path = sub / f"agent-{i:04d}.md"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    # As if written a minute ago: files changed within the last 2 s are also compared by
    # content on every check (a file system clock may not tick between two quick writes).
    old = time.time() - 60
    for path in [*paths, *directory.rglob("*")]:
        os.utime(path, (old, old))
    os.utime(directory, (old, old))
    return paths


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def baseline(paths: list[Path]) -> None:
    for path in paths:
        split = split_front_matter(path.read_text(encoding="utf-8"))
        assert split is not None
        yaml.load(split[0], Loader=yaml.SafeLoader)


def without_fast_reader(action: Callable[[], None]) -> Callable[[], None]:
    """``action`` with every front matter parsed by PyYAML's CSafeLoader (for comparison)."""

    def run() -> None:
        original = parsing.read_simple_mapping
        parsing.read_simple_mapping = lambda _text: None
        try:
            action()
        finally:
            parsing.read_simple_mapping = original

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "agents"
        shipped = Path(tmp) / "no-shipped"
        shipped.mkdir()
        paths = write_definitions(root, options.files)

        def cold() -> None:
            registry = AgentRegistry(root, None, shipped_dir=shipped)
            assert len(registry.discover().agents) == options.files

        registry = AgentRegistry(root, None, shipped_dir=shipped)
        registry.discover()
        edited = paths[len(paths) // 2]
        text = edited.read_text(encoding="utf-8")

        def one_edit() -> None:
            edited.write_text(text + "\n", encoding="utf-8")  # new size: seen by its stat
            registry.discover()
            edited.write_text(text, encoding="utf-8")
            registry.discover()

        rows = [
            (
                "baseline: read + PyYAML pure-Python SafeLoader",
                median_ms(lambda: baseline(paths), 3),
            ),
            ("cold: new registry, first discover()", median_ms(cold, options.repeat)),
            ("cold, without the plain-YAML fast reader", median_ms(without_fast_reader(cold), 3)),
            ("warm: discover() again, no change", median_ms(registry.discover, 200)),
            (
                "warm: discover() + tool result dict",
                median_ms(lambda: discovery_result(registry.discover(), "builtin"), 50),
            ),
            ("warm: get('agent-0500')", median_ms(lambda: registry.get("agent-0500"), 200)),
            ("one file edited, then restored (2 discoveries)", median_ms(one_edit, options.repeat)),
        ]
    base = rows[0][1]
    loader = "CSafeLoader" if hasattr(yaml, "CSafeLoader") else "SafeLoader (no libyaml)"
    print(
        f"Agent discovery, {options.files} definition files; the registry reads plain front "
        f"matter itself and falls back to PyYAML's {loader}"
    )
    print(f"Python {sys.version.split()[0]}; medians over repetitions\n")
    print("| measurement | median (ms) | baseline / this |")
    print("| --- | ---: | ---: |")
    for label, ms in rows:
        print(f"| {label} | {ms:.3f} | {base / ms:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
