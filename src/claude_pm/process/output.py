"""Output of a run: the child writes straight into ``stdout.log`` / ``stderr.log``.

The child's stdout and stderr are the log files themselves (no pipes), so the
orchestrator holds no output in memory however much is printed, a grandchild
that keeps the descriptors open cannot delay the end of the run, and the logs
are complete even if the orchestrator dies. Tails are read from the end of the
files once the tree is gone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

STDOUT_NAME = "stdout.log"
STDERR_NAME = "stderr.log"


def open_logs(run_dir: Path) -> tuple[BinaryIO, BinaryIO]:
    """Create ``run_dir`` and truncate both logs; raises OSError when it cannot."""
    run_dir.mkdir(parents=True, exist_ok=True)
    stdout = (run_dir / STDOUT_NAME).open("wb")
    try:
        stderr = (run_dir / STDERR_NAME).open("wb")
    except OSError:
        stdout.close()
        raise
    return stdout, stderr


def read_tail(path: Path, tail_bytes: int) -> tuple[str, bool]:
    """The last ``tail_bytes`` of a log decoded as UTF-8, and whether the log is longer."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - tail_bytes))
            data = f.read(max(0, tail_bytes))
    except OSError:
        return "", False
    return data.decode("utf-8", errors="replace"), size > tail_bytes
