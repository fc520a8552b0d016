"""spawn: a launcher that does not report in time is not left running."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from claude_pm.errors import SpawnFailed
from claude_pm.process.spawn import spawn
from claude_pm.process.types import ProcessSpec


def test_a_launcher_that_misses_its_deadline_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    code = f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(300)"
    spec = ProcessSpec(
        argv=[sys.executable, "-c", code],
        env={"PATH": os.environ.get("PATH", "")},
        cwd=tmp_path,
        run_dir=tmp_path,
    )
    with (
        (tmp_path / "out").open("wb") as out,
        (tmp_path / "err").open("wb") as err,
        pytest.raises(SpawnFailed, match="did not start the program in time"),
    ):
        # An RLIMIT_AS makes spawn go through the trampoline and wait for its report.
        spawn(
            spec,
            dict(spec.env),
            out,
            err,
            procs_files=[],
            rlimit_as_bytes=1 << 40,
            start_deadline_s=0.0,
        )
    # The autouse leak check fails this test if the launcher (or the program it
    # exec'd) is still alive.
