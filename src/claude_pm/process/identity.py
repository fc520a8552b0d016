"""Who a process is, in a form that survives pid reuse and tells a reboot apart.

``boot/pid/start`` (the kernel's boot id, the pid, the start time in clock
ticks from ``/proc/<pid>/stat``) names one process for the life of the
machine: a record can later tell whether the process that wrote it still runs.
"""

from __future__ import annotations

from pathlib import Path


def boot_id() -> str:
    """The kernel's id of this boot (``unknown-boot`` where there is none)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def process_identity(pid: int) -> str:
    """``boot/pid/start`` for a live process (``start`` is ``?`` when it cannot be read)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{boot_id()}/{pid}/{start}"


def identity_alive(identity: str | None) -> bool:
    """Whether the process :func:`process_identity` described still runs.

    Unknown identities (older records, other systems) count as alive: never
    treat as dead something that might still be going.
    """
    if not identity:
        return True
    try:
        boot, pid_text, start = identity.split("/")
        pid = int(pid_text)
    except ValueError:
        return True
    if start == "?":
        return True
    if boot != boot_id():
        return False
    return process_identity(pid) == identity
