"""Keep an agent away from what it does not need: the orchestrator's secrets and the filesystem.

Two layers, both measured on the project's machines (see the README):

1. :func:`protect_orchestrator` makes this process non-dumpable
   (``prctl(PR_SET_DUMPABLE, 0)``): other processes of the same non-root user,
   agents included, can no longer read its ``/proc/PID/environ`` or memory.
   Root still can, and it does not cover the orchestrator's ancestors (the
   user's shell, Claude Code).
2. A sandbox around the agent's process tree when the machine has one:
   bubblewrap (``bwrap``, what Claude Code's own sandbox uses on Linux) with a
   new PID namespace and its own ``/proc`` (ancestors are invisible), the
   whole filesystem read-only except the paths a run may write (the project,
   the run directory, and what the backend declares), a private temporary
   directory as ``TMPDIR``, and optionally no network. It adds about 5 ms to
   a start. ``/tmp`` itself stays visible read-only: mounting a tmpfs over it
   would hide a project, a checkout or a virtual environment that lives there.

:func:`sandbox_support` detects bubblewrap once per process with a real probe
(user namespaces may be disabled); :func:`wrap_argv` builds the command line.
macOS (no bubblewrap) is out of scope: there the sandbox is never available.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_DUMPABLE = 4
_protected = False
_protect_lock = threading.Lock()


def protect_orchestrator() -> bool:
    """Make this process non-dumpable, once; True when it is (Linux only).

    Done by the supervisor before it starts the first agent of the process.
    A debugger or profiler running as the same non-root user can no longer
    attach either; root still can.
    """
    global _protected
    with _protect_lock:
        if _protected:
            return True
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())
                return False
        except (OSError, AttributeError) as e:
            log.info("cannot make the orchestrator non-dumpable here: %s", e)
            return False
        _protected = True
        return True


@dataclass(frozen=True)
class SandboxSpec:
    """What a sandboxed run may do: write these paths, use the network or not.

    ``tmp_dir`` (one of the writable paths, or inside one) becomes ``TMPDIR``.
    ``required``: a machine without a sandbox is an error (the run does not
    start), never a silent downgrade.
    """

    writable: tuple[Path, ...] = ()
    tmp_dir: Path | None = None
    network: bool = True
    required: bool = False


@dataclass(frozen=True)
class SandboxSupport:
    """Whether bubblewrap works here, and why not when it does not."""

    bwrap: str | None
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.bwrap is not None


_support: SandboxSupport | None = None
_support_lock = threading.Lock()


def _probe() -> SandboxSupport:
    found = shutil.which("bwrap")
    if found is None:
        return SandboxSupport(
            None,
            "bubblewrap (bwrap) is not installed; on Debian or Ubuntu: apt-get install bubblewrap",
        )
    probe = [found, *_base_args(network=True), "--", "/bin/sh", "-c", "exit 0"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return SandboxSupport(None, f"bwrap could not be started: {e}")
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[:200]
        return SandboxSupport(
            None, f"bwrap is installed but cannot create namespaces here ({why or 'no reason'})"
        )
    return SandboxSupport(found)


def sandbox_support() -> SandboxSupport:
    """Bubblewrap's availability, probed once per process."""
    global _support
    with _support_lock:
        if _support is None:
            _support = _probe()
            log.debug("sandbox: %s", _support)
        return _support


def _base_args(*, network: bool) -> list[str]:
    args = [
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
    ]
    if not network:
        args.append("--unshare-net")
    return args


def wrap_argv(bwrap: str, argv: Sequence[str], spec: SandboxSpec, cwd: Path) -> list[str]:
    """``argv`` run under bubblewrap as ``spec`` says, starting in ``cwd``."""
    args = [bwrap, *_base_args(network=spec.network)]
    for path in dict.fromkeys(spec.writable):
        if path.exists():
            args += ["--bind", str(path), str(path)]
    args += ["--chdir", str(cwd), "--", *argv]
    return args


def sandbox_env(env: dict[str, str], spec: SandboxSpec) -> dict[str, str]:
    """The environment inside the sandbox: ``TMPDIR`` is the run's own temporary directory."""
    if spec.tmp_dir is None:
        return env
    return {**env, "TMPDIR": str(spec.tmp_dir)}


__all__ = [
    "SandboxSpec",
    "SandboxSupport",
    "protect_orchestrator",
    "sandbox_env",
    "sandbox_support",
    "wrap_argv",
]
