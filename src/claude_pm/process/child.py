"""The supervised child itself: waited for through its pidfd, reaped once with ``wait4``.

The child's exit (not the end of its output) ends the wait. Its pidfd lets us
signal it without a pid-reuse race until it is reaped; ``wait4`` gives its
rusage (``ru_maxrss`` is the largest single process it waited for, in KiB).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time

#: How long a SIGKILLed process may take to be gone before we stop waiting on it.
SETTLE_S = 5.0


class MainChild:
    """Wait for, signal and reap one started child."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self.pidfd = os.pidfd_open(self.pid)
        self.reaped = False
        self.wait_status: int | None = None
        self.ended_at: float | None = None
        self.maxrss_bytes = 0
        self.cpu_s = 0.0

    def wait_exit(self, timeout_s: float) -> None:
        """Return when the child has exited or ``timeout_s`` passed."""
        if self.pidfd is None or self.reaped:
            time.sleep(min(timeout_s, 0.01))
            return
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        poller.poll(int(timeout_s * 1000))

    def reap(self, *, block: bool) -> bool:
        """Collect the exit status and rusage; True once the child has exited."""
        if self.reaped:
            return True
        if block:
            deadline = time.monotonic() + SETTLE_S
            while time.monotonic() < deadline and not self.reap(block=False):
                self.wait_exit(0.05)
            if self.reaped:
                return True
        try:
            pid, status, usage = os.wait4(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            # Someone else waited for it: the status is lost, the child is gone.
            self.reaped, self.ended_at = True, time.monotonic()
            self.proc.returncode = -1
            return True
        if pid == 0:
            return False
        self.ended_at = time.monotonic()
        self.wait_status, self.reaped = status, True
        self.maxrss_bytes = usage.ru_maxrss * 1024
        self.cpu_s += usage.ru_utime + usage.ru_stime
        # Popen must not reap (or warn about) a pid we already waited for.
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return True

    def send(self, sig: int) -> None:
        """Signal the child if it is not reaped yet (never a reused pid)."""
        if self.reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, sig)
            else:
                os.kill(self.pid, sig)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
