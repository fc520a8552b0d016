"""Fixtures: ``run_snippet`` runs python snippets under the supervisor; both tracking modes."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from process_snippets import RunSnippet, any_cgroup_available

from claude_pm.process import ProcessEvent, ProcessResult, ProcessSpec, run_process


@pytest.fixture
def run_snippet(tmp_path: Path) -> RunSnippet:
    """``run_snippet(code, **spec_fields)`` runs ``python -c code`` in ``tmp_path``.

    Extra keywords: ``cancel`` and ``on_event`` go to ``run_process``; the
    rest to :class:`ProcessSpec`. The default timeout (60 s) only avoids hangs.
    """
    counter = iter(range(1_000_000))

    def run(
        code: str,
        *,
        cancel: threading.Event | None = None,
        on_event: Callable[[ProcessEvent], None] | None = None,
        **fields: Any,
    ) -> ProcessResult:
        fields.setdefault("timeout_s", 60.0)
        fields.setdefault("kill_grace_s", 1.0)
        spec = ProcessSpec(
            argv=fields.pop("argv", [sys.executable, "-c", textwrap.dedent(code)]),
            env=fields.pop("env", {**os.environ, "PYTHONUNBUFFERED": "1"}),
            cwd=fields.pop("cwd", tmp_path),
            run_dir=fields.pop("run_dir", tmp_path / f"run-{next(counter)}"),
            **fields,
        )
        return run_process(spec, cancel=cancel, on_event=on_event)

    return run


@pytest.fixture(params=[True, False], ids=["cgroups", "proc-walk"])
def use_cgroups(request: pytest.FixtureRequest) -> bool:
    """Both ways of tracking a tree; the cgroup one skips where none is writable."""
    if request.param and not any_cgroup_available():
        pytest.skip("no writable cgroup on this machine")
    return bool(request.param)
