"""Output of a run: the child writes straight into ``stdout.log`` / ``stderr.log``.

The child's stdout and stderr are the log files themselves (no pipes), so the
orchestrator holds no output in memory however much is printed, a grandchild
that keeps the descriptors open cannot delay the end of the run, and the logs
are complete even if the orchestrator dies. Tails are read from the end of the
files once the tree is gone.

The page cache of what the child writes is charged to the writer's memory
cgroup, so a run that floods its logs would see its kernel memory figure (and
limit) filled with log pages. :class:`LogCache` lets the supervisor drop the
logs' clean cached pages (``posix_fadvise(DONTNEED)``) at every sample; what
is still dirty (not yet written back) stays until the next one. On a tmpfs the
pages are the file itself and cannot be dropped.
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


class LogCache:
    """Drops the cached pages of a run's two logs, from outside the run's group."""

    def __init__(self, run_dir: Path) -> None:
        self.fds: list[int] = []
        for name in (STDOUT_NAME, STDERR_NAME):
            try:
                self.fds.append(os.open(run_dir / name, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                continue

    def drop(self) -> None:
        """Start writeback of dirty pages and drop the clean ones (cheap when there are none)."""
        for fd in self.fds:
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                continue

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use on the filesystem of ``path`` (or a parent)."""
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


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
