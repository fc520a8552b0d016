"""Run one tool (pytest, coverage, Bandit, Ruff, detect-secrets, git) as a subprocess.

The life of one tool run
    :func:`run_tool` starts ``argv`` (a list, never through a shell) in its own
    process group with the project (or the run directory) as its working
    directory and :func:`tool_environment` as its environment, and standard
    input closed. Two threads drain standard output and standard error; each
    keeps at most ``output_cap_bytes`` and throws the rest away while still
    reading, so a chatty tool neither blocks on a full pipe nor fills memory.
    When ``timeout_s`` passes, the whole group is killed (SIGKILL: tools have
    nothing to save) and the result says it timed out. The result is a
    :class:`ToolRun` value; a tool that cannot be started at all raises
    :class:`ToolMissing`, since that means the agent cannot do its job.

Nothing left in the project
    The environment turns off bytecode writing (``PYTHONDONTWRITEBYTECODE``)
    and points every cache and data file a tool would drop in its working
    directory at the run directory: ``COVERAGE_FILE``, ``RUFF_CACHE_DIR``,
    ``HYPOTHESIS_STORAGE_DIRECTORY``, ``MYPY_CACHE_DIR``. Agents add the
    command-line switches their tool needs on top (``-p no:cacheprovider``,
    ``--cache-dir``, ``--data-file``). git runs with ``GIT_OPTIONAL_LOCKS=0``
    so that reading history never rewrites the index.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from claude_pm.agents.toolchain.request import ToolMissing

DEFAULT_OUTPUT_CAP_BYTES = 16 * 1024 * 1024
_READ_BYTES = 64 * 1024
_KILL_WAIT_S = 5.0


@dataclass(frozen=True)
class ToolRun:
    """What one tool run did.

    Attributes:
        argv: the command, as run.
        returncode: its exit code, or None when it was killed on timeout.
        stdout: standard output (UTF-8, undecodable bytes replaced), at most the cap.
        stderr: standard error, likewise.
        timed_out: the timeout passed and the process group was killed.
        stdout_truncated: standard output was longer than the cap.
        stderr_truncated: standard error was longer than the cap.
        duration_s: wall time from start to exit.
    """

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float

    def outcome(self) -> str:
        """``exit 0, 1.2 s`` / ``killed after 600 s (timeout)``, for the report."""
        if self.timed_out:
            return f"killed after {self.duration_s:.0f} s (timeout)"
        cut = " (output cut at the cap)" if self.stdout_truncated else ""
        return f"exit {self.returncode}, {self.duration_s:.1f} s{cut}"


def tool_environment(run_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus the variables that keep tools out of the project."""
    cache = run_dir / "cache"
    env = dict(os.environ)
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",
            "COVERAGE_FILE": str(run_dir / ".coverage"),
            "RUFF_CACHE_DIR": str(cache / "ruff"),
            "MYPY_CACHE_DIR": str(cache / "mypy"),
            "HYPOTHESIS_STORAGE_DIRECTORY": str(cache / "hypothesis"),
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_TERMINAL_PROMPT": "0",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    if extra:
        env.update(extra)
    return env


class _Drain(threading.Thread):
    """Read a pipe to its end, keeping the first ``cap`` bytes."""

    def __init__(self, pipe: IO[bytes], cap: int) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.cap = cap
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False

    def run(self) -> None:
        with self.pipe:
            while True:
                chunk = self.pipe.read1(_READ_BYTES)  # type: ignore[attr-defined]
                if not chunk:
                    return
                room = self.cap - self.kept
                if room > 0:
                    self.chunks.append(chunk[:room])
                    self.kept += min(room, len(chunk))
                if len(chunk) > room:
                    self.truncated = True

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_cap_bytes: int = DEFAULT_OUTPUT_CAP_BYTES,
) -> ToolRun:
    """Run ``argv`` to its end or its timeout; see the module docstring.

    Raises:
        ToolMissing: the program does not exist or cannot be executed.
    """
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        raise ToolMissing(argv[0], "here", f"it cannot be started ({e.strerror})") from e
    assert process.stdout is not None and process.stderr is not None
    drains = [_Drain(process.stdout, output_cap_bytes), _Drain(process.stderr, output_cap_bytes)]
    for drain in drains:
        drain.start()
    timed_out = False
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # The tool's own children (pytest-xdist workers, a test's server) go with it.
        _kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_KILL_WAIT_S)
    for drain in drains:
        # A descendant that left the group may hold a pipe open: do not wait on it forever.
        drain.join(timeout=_KILL_WAIT_S)
    out, err = drains
    return ToolRun(
        argv=tuple(argv),
        returncode=None if timed_out else process.returncode,
        stdout=out.text(),
        stderr=err.text(),
        timed_out=timed_out,
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        duration_s=time.monotonic() - started,
    )


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def has_module(python: str, module: str, *, run_dir: Path, timeout_s: float = 60) -> bool:
    """Whether ``python`` can import ``module`` (found, not imported: no side effects)."""
    probe = (
        "import importlib.util, sys\n"
        f"sys.exit(0 if importlib.util.find_spec({module!r}) is not None else 3)\n"
    )
    try:
        result = run_tool(
            [python, "-c", probe],
            cwd=run_dir,
            env=tool_environment(run_dir),
            timeout_s=timeout_s,
            output_cap_bytes=64 * 1024,
        )
    except ToolMissing:
        return False
    return result.returncode == 0


def require_module(python: str, module: str, package: str, *, run_dir: Path) -> None:
    """Raise :class:`ToolMissing` unless ``python`` has ``module`` (from ``package``)."""
    if not has_module(python, module, run_dir=run_dir):
        raise ToolMissing(
            package,
            f"for {python}",
            f"install it there (`{python} -m pip install '{package}'`, or claude-pm's "
            "`review` extra), or point the agent's `python` option at an interpreter that has it",
        )


def tail(text: str, lines: int = 5, chars: int = 600) -> str:
    """The last few lines of a tool's output, for an error message."""
    kept = "\n".join(text.strip().splitlines()[-lines:])
    return kept[-chars:]
