"""Small functions the process tests share: cgroup facts, waiting, reading pid files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from claude_pm.process import ProcessResult
from claude_pm.process.cgroups import cgroup_support
from claude_pm.process.tree import read_stat

RunSnippet = Callable[..., ProcessResult]


def kernel_memory_available() -> bool:
    support = cgroup_support()
    return support.v2_dir is not None or "memory" in support.v1_dirs


def any_cgroup_available() -> bool:
    return cgroup_support().any


def is_gone(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is None or stat.state == "Z"


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def read_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []
