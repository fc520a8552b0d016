"""Who a process is, in a form that survives pid reuse and tells a reboot apart.

``boot/pid/start/pidns/host`` names one process for the life of the machine:
the kernel's boot id, the pid, the start time in clock ticks from
``/proc/<pid>/stat``, the inode of its pid namespace and the host name. A
record can later tell whether the process that wrote it still runs, and
whether the reader could even tell (:class:`Liveness`): a process of another
machine sharing the file, or of another container (another pid namespace),
cannot be seen from here and is never taken for dead.

Records written before the namespace and host were added hold
``boot/pid/start`` and are still read.
"""

from __future__ import annotations

import functools
import os
import socket
from enum import StrEnum
from pathlib import Path


class Liveness(StrEnum):
    """What this process can tell about the process an identity names."""

    #: It still runs (same boot, same pid, same start time).
    ALIVE = "alive"
    #: It ran on this boot, where we can see, and is gone: what it left may still run.
    EXITED = "exited"
    #: It ran on an earlier boot of this machine: nothing it started survives.
    REBOOTED = "rebooted"
    #: Another machine, another pid namespace, or an identity we cannot read.
    UNKNOWN = "unknown"


@functools.cache
def boot_id() -> str:
    """The kernel's id of this boot (``unknown-boot`` where there is none); read once."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def pid_namespace(pid: int | str = "self") -> str:
    """The inode of a process's pid namespace (``?`` when it cannot be read)."""
    try:
        return str(Path(f"/proc/{pid}/ns/pid").stat().st_ino)
    except OSError:
        return "?"


@functools.cache
def _host() -> str:
    return socket.gethostname().replace("/", "_") or "?"


@functools.cache
def _namespace_of(pid: int) -> str:
    """Our own pid namespace, once per process (``pid`` keys the cache across a fork)."""
    return pid_namespace(pid)


def _own_namespace() -> str:
    return _namespace_of(os.getpid())


def start_ticks(pid: int, *, zombie_ok: bool = True) -> int | None:
    """A process's start time in clock ticks after boot, or None when it is gone.

    A zombie (exited, not reaped yet) counts as gone unless ``zombie_ok``.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "Z" and not zombie_ok:
            return None
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_identity(pid: int) -> str:
    """``boot/pid/start/pidns/host`` for a live process (``start`` is ``?`` when unreadable)."""
    start = start_ticks(pid)
    return f"{boot_id()}/{pid}/{'?' if start is None else start}/{pid_namespace(pid)}/{_host()}"


def identity_pid(identity: str | None) -> int | None:
    """The pid an identity names, or None when it is not one."""
    if not identity:
        return None
    parts = identity.split("/")
    if len(parts) not in (3, 5) or not parts[1].isdigit():
        return None
    return int(parts[1])


def liveness(identity: str | None) -> Liveness:
    """Whether the process :func:`process_identity` described still runs, if we can tell."""
    if not identity:
        return Liveness.UNKNOWN
    parts = identity.split("/")
    if len(parts) not in (3, 5) or not parts[1].isdigit() or parts[2] == "?":
        return Liveness.UNKNOWN
    boot, pid, start = parts[0], int(parts[1]), parts[2]
    if len(parts) == 5:
        namespace, host = parts[3], parts[4]
        if host != _host():
            return Liveness.UNKNOWN
        if boot != boot_id():
            return Liveness.REBOOTED
        if namespace != _own_namespace():
            return Liveness.UNKNOWN
    elif boot != boot_id():
        return Liveness.REBOOTED
    now = start_ticks(pid, zombie_ok=False)
    return Liveness.ALIVE if now is not None and str(now) == start else Liveness.EXITED


def identity_alive(identity: str | None) -> bool:
    """Whether the process :func:`process_identity` described may still run.

    Unknown identities (older records, other machines, other containers) count
    as alive: never treat as dead something that might still be going.
    """
    return liveness(identity) in (Liveness.ALIVE, Liveness.UNKNOWN)
