"""Shared fixtures: every test proves the processes it started are gone.

The test process makes itself a child subreaper, so a grandchild that
daemonised (``setsid`` + double fork) re-parents to pytest instead of init and
still shows up in the leak check.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

PR_SET_CHILD_SUBREAPER = 36
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


def _become_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


_become_subreaper()


def _live_descendants() -> list[psutil.Process]:
    me = psutil.Process()
    alive = []
    for child in me.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                if child.ppid() == me.pid:
                    os.waitpid(child.pid, os.WNOHANG)
                continue
            alive.append(child)
        except (psutil.NoSuchProcess, ChildProcessError):
            continue
    return alive


def _describe(procs: list[psutil.Process]) -> str:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.Error:
            out.append(str(p.pid))
    return "; ".join(out)


@pytest.fixture(autouse=True)
def no_leftover_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a live descendant behind (after a 5 s grace to exit)."""
    before = {p.pid for p in _live_descendants()}
    yield
    if request.node.get_closest_marker("allow_leftovers"):
        return
    deadline = time.monotonic() + 5.0
    leftovers = [p for p in _live_descendants() if p.pid not in before]
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.05)
        leftovers = [p for p in _live_descendants() if p.pid not in before]
    if leftovers:
        for p in leftovers:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(leftovers, timeout=2)
        _live_descendants()
        pytest.fail(f"test left processes behind: {_describe(leftovers)}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory."""
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real home: HOME and the user agents dir point into tmp."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_PM_USER_AGENTS_DIR", str(home / ".claude" / "agents"))
    monkeypatch.delenv("CLAUDE_PM_PROJECT_ROOT", raising=False)
    monkeypatch.delenv("CLAUDE_PM_STATE_DIR", raising=False)
    # Many tests' agents report their own pids so the test can watch them die; inside a
    # sandbox's PID namespace those are not the host's pids. The sandbox is tested on its
    # own (tests/process/test_sandbox.py, marker ``sandbox``), with it switched on.
    monkeypatch.setenv("CLAUDE_PM_SANDBOX", "off")
    return home


@pytest.fixture
def write_agent(project: Path) -> Any:
    """``write_agent(name, code, **front_matter)``: a project-tier agent running a Python snippet.

    See :func:`claude_pm.testing.write_python_agent`.
    """
    from claude_pm.testing import write_python_agent

    return functools.partial(write_python_agent, project)
