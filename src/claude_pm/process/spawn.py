"""Start the child in a new session, inside its groups before it runs any code of its own.

When the run has cgroups or an RLIMIT_AS to apply, the child starts as a tiny
trampoline (``python -I -S``, about 10 ms) that writes its own pid into each
group's ``cgroup.procs``, sets the rlimit, then ``exec``s the real argv: the
program begins inside its groups, so nothing it forks can be missed. This is
chosen over ``preexec_fn``, which runs Python between ``fork`` and ``exec`` and
can deadlock when other threads hold locks (the workflow engine runs agents
from several threads). The trampoline reports what failed on a close-on-exec
status pipe: end of file without a report means the ``exec`` succeeded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO

from claude_pm.errors import SpawnFailed
from claude_pm.process.types import ProcessSpec

_TRAMPOLINE = """\
import os, sys
fd = int(sys.argv[1]); n = int(sys.argv[2]); files = sys.argv[3:3 + n]
limit = int(sys.argv[3 + n]); argv = sys.argv[4 + n:]
def note(kind, e):
    os.write(fd, ("%s\\t%d\\t%s\\n" % (kind, e.errno or 0, e.strerror or e)).encode())
for path in files:
    try:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    except OSError as e:
        note("cgroup", e)
if limit > 0:
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError) as e:
        note("rlimit", OSError(0, str(e)))
os.set_inheritable(fd, False)
try:
    os.execvp(argv[0], argv)
except OSError as e:
    note("exec", e)
    os._exit(127)
"""


@dataclass(frozen=True)
class Started:
    """A started child and what the trampoline reported on the way."""

    proc: subprocess.Popen[bytes]
    notes: tuple[str, ...]


def describe_os_error(error: OSError, argv0: str) -> str:
    """A message that says what to fix for a failed start."""
    if error.errno == errno.ENOENT:
        return f"program not found: {argv0!r} (check PATH in the environment, or give a full path)"
    if error.errno == errno.EACCES:
        return f"permission denied running {argv0!r} (is it executable?)"
    if error.errno == errno.E2BIG:
        return "argument list or environment too large (pass large values in a file)"
    if error.errno == errno.ENOEXEC:
        return f"{argv0!r} is not an executable format (add a #! line or call its interpreter)"
    return f"cannot start {argv0!r}: {error.strerror or error}"


def _os_failure(error: OSError, argv0: str) -> SpawnFailed:
    return SpawnFailed(describe_os_error(error, argv0), program=argv0, errno=error.errno)


def spawn(
    spec: ProcessSpec,
    env: dict[str, str],
    stdout: BinaryIO,
    stderr: BinaryIO,
    *,
    procs_files: list[str],
    rlimit_as_bytes: int | None,
    argv: list[str] | None = None,
    start_deadline_s: float = 30.0,
) -> Started:
    """Start ``argv`` (default ``spec.argv``) as ``spec`` says.

    Raises:
        SpawnFailed: it cannot run (the message says what to fix).
    """
    argv = [str(a) for a in (spec.argv if argv is None else argv)]
    if not argv:
        raise SpawnFailed("empty argv: give at least the program to run")
    if not spec.cwd.is_dir():
        raise SpawnFailed(f"working directory does not exist: {spec.cwd}")
    stdin = subprocess.PIPE if spec.stdin_data is not None else subprocess.DEVNULL
    if not procs_files and rlimit_as_bytes is None:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as e:
            raise _os_failure(e, argv[0]) from e
        return Started(proc, ())
    read_fd, write_fd = os.pipe()
    try:
        command = [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(write_fd)]
        command += [str(len(procs_files)), *procs_files, str(rlimit_as_bytes or 0), *argv]
        try:
            proc = subprocess.Popen(
                command,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                cwd=spec.cwd,
                env=env,
                start_new_session=True,
                pass_fds=(write_fd,),
            )
        except OSError as e:
            raise SpawnFailed(
                f"cannot start the launcher {sys.executable!r}: {e}",
                program=sys.executable,
                errno=e.errno,
            ) from e
        os.close(write_fd)
        write_fd = -1
        try:
            report = _read_report(read_fd, time.monotonic() + start_deadline_s)
        except SpawnFailed:
            # Nobody supervises it yet: it must not go on to exec the program.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    notes = []
    for line in report.decode(errors="replace").splitlines():
        kind, _, rest = line.partition("\t")
        code, _, message = rest.partition("\t")
        if kind == "exec":
            proc.wait()
            error = OSError(int(code) if code.isdigit() else 0, message)
            raise _os_failure(error, argv[0])
        notes.append(f"{kind}: {message}")
    return Started(proc, tuple(notes))


def _read_report(fd: int, deadline_s: float) -> bytes:
    chunks: list[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while time.monotonic() < deadline_s:
        if not poller.poll(100):
            continue
        with contextlib.suppress(InterruptedError):
            chunk = os.read(fd, 4096)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    raise SpawnFailed("the launcher did not start the program in time")
