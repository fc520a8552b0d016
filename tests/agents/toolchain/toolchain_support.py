"""Helpers for the built-in agent tests: run an agent for real, read findings, snapshot trees."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claude_pm.agents.toolchain import ToolchainRequest, run_agent
from claude_pm.tickets.extractor import extract_text

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "examples" / "review-sample"
FINDING = re.compile(
    r"^(?P<marker>BUG|SECURITY|TODO|REFACTOR|PERFORMANCE|FEATURE|FIXME)"
    r"(?:\((?P<priority>high|medium|low)\))?: (?P<path>[^:\n]+):(?P<line>\d+): (?P<message>.+)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Finding:
    marker: str
    priority: str | None
    path: str
    line: int
    message: str


@dataclass(frozen=True)
class Outcome:
    code: int
    report: str
    stderr: str
    run_dir: Path

    @property
    def findings(self) -> list[Finding]:
        return [
            Finding(m["marker"], m["priority"], m["path"], int(m["line"]), m["message"])
            for m in FINDING.finditer(self.report)
        ]

    def located(self) -> set[tuple[str, str, int]]:
        """(marker, path, line) of every finding."""
        return {(f.marker, f.path, f.line) for f in self.findings}


def run(
    agent: str,
    project: Path,
    run_dir: Path,
    *,
    task: str = "review the project",
    options: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    python: str = sys.executable,
) -> Outcome:
    """Run one built-in agent through ``run_agent`` and check its report's invariants.

    Every marker line must be one ticket for claude-pm's real extractor, and no
    other line may be one: the tickets found are exactly the findings.
    """
    out, err = io.StringIO(), io.StringIO()
    request = ToolchainRequest(
        project_root=project,
        task=task,
        context=dict(context or {}),
        run_dir=run_dir,
        options=dict(options or {}),
        python=python,
    )
    code = run_agent(agent, request, out, err=err)
    outcome = Outcome(code, out.getvalue(), err.getvalue(), run_dir)
    tickets = extract_text(outcome.report, agent)
    # The extractor takes the leading path:line out of the title into file and line.
    expected = [(f.message, f.path, f.line) for f in outcome.findings]
    assert [(t.title, t.file, t.line) for t in tickets] == expected, outcome.report
    for ticket, finding in zip(tickets, outcome.findings, strict=True):
        if finding.priority:
            assert ticket.priority.value == finding.priority
    return outcome


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under ``root`` (hidden ones included): kind, mode and content hash."""
    entries: dict[str, tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames:
            path = here / name
            entries[path.relative_to(root).as_posix()] = ("dir", path.lstat().st_mode, "")
        for name in filenames:
            path = here / name
            digest = "" if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            entries[path.relative_to(root).as_posix()] = ("file", path.lstat().st_mode, digest)
    return entries


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text dedented) and return ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` with a fixed identity; returns stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


def all_bytes_under(root: Path) -> bytes:
    """Every file under ``root`` concatenated (to search for a secret that must not be there)."""
    chunks = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                chunks.append(path.read_bytes())
    return b"\n".join(chunks)
