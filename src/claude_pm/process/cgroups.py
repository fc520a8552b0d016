"""Kernel control groups for one run: detect what is writable, create, read, kill, remove.

A run gets its own group under the group the orchestrator itself is in, named
``claude-pm-<owner pid>-<n>`` so a later orchestrator can tell a leftover of a
dead owner from a live run of another one. Detection happens at run time and
is cached per process:

* cgroup v2 with the ``memory`` controller delegated to our group's children
  (it is in our ``cgroup.subtree_control``, or we may add it): one group holds
  memory (``memory.max``, ``memory.peak``, ``memory.events``), freezing
  (``cgroup.freeze``) and killing (``cgroup.kill``).
* cgroup v1: separate ``memory``, ``pids`` and ``freezer`` hierarchies, each
  used when our group's directory in it is writable.

The child enters its groups before it runs any of its own code (see
``spawn.py``), so every descendant is born inside them and ``cgroup.procs``
lists it even after it left the session with ``setsid``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

log = logging.getLogger(__name__)

GROUP_PREFIX = "claude-pm-"
_GROUP_NAME = re.compile(r"^claude-pm-(\d+)-(\d+)$")
_V1_CONTROLLERS = ("memory", "pids", "freezer")
_sequence = count(1)


@dataclass(frozen=True)
class CgroupSupport:
    """Where this process may create run groups: one directory per usable controller.

    ``v2_dir`` is set when a v2 group with memory can be made; otherwise
    ``v1_dirs`` maps ``memory`` / ``pids`` / ``freezer`` to our own writable group.
    """

    v2_dir: Path | None
    v1_dirs: dict[str, Path]

    @property
    def any(self) -> bool:
        return self.v2_dir is not None or bool(self.v1_dirs)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount root, mount point, super options) for each cgroup mount."""
    mounts = []
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mounts.append(
            (tail[0], _unescape(fields[3]), _unescape(fields[4]), set(tail[2].split(",")))
        )
    return mounts


def _own_paths() -> dict[str, str]:
    """Our group path per v1 controller, and under ``""`` the v2 path."""
    paths: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _resolve(mount_root: str, mount_point: str, group: str) -> Path | None:
    if mount_root != "/" and not (group == mount_root or group.startswith(mount_root + "/")):
        return None
    rel = group[len(mount_root) :] if mount_root != "/" else group
    return Path(mount_point + rel.rstrip("/")) if rel.strip("/") else Path(mount_point)


def _v2_candidate(mounts: list[tuple[str, str, str, set[str]]], own: dict[str, str]) -> Path | None:
    if "" not in own:
        return None
    for fstype, root, point, _opts in mounts:
        if fstype != "cgroup2":
            continue
        path = _resolve(root, point, own[""])
        if path is None or not os.access(path, os.W_OK):
            continue
        try:
            controllers = (path / "cgroup.controllers").read_text().split()
            enabled = (path / "cgroup.subtree_control").read_text().split()
        except OSError:
            continue
        if "memory" not in controllers:
            continue
        if "memory" not in enabled:
            try:
                (path / "cgroup.subtree_control").write_text("+memory")
            except OSError:
                continue
        return path
    return None


def _detect() -> CgroupSupport:
    mounts, own = _mounts(), _own_paths()
    v2 = _v2_candidate(mounts, own)
    if v2 is not None:
        return CgroupSupport(v2_dir=v2, v1_dirs={})
    v1: dict[str, Path] = {}
    for controller in _V1_CONTROLLERS:
        if controller not in own:
            continue
        for fstype, root, point, opts in mounts:
            if fstype == "cgroup" and controller in opts:
                path = _resolve(root, point, own[controller])
                if path is not None and os.access(path, os.W_OK):
                    v1[controller] = path
                    break
    return CgroupSupport(v2_dir=None, v1_dirs=v1)


_support: CgroupSupport | None = None
_support_lock = threading.Lock()


def cgroup_support() -> CgroupSupport:
    """What this process may use, detected once; leftovers of dead owners are removed then."""
    global _support
    with _support_lock:
        if _support is None:
            _support = _detect()
            remove_stale_groups(_support)
        return _support


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
    except OSError as e:
        log.debug("cannot write %s to %s: %s", value, path, e)
        return False
    return True


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_key(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _procs(directory: Path) -> set[int]:
    try:
        return {int(p) for p in (directory / "cgroup.procs").read_text().split()}
    except (OSError, ValueError):
        return set()


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _rmdir_when_empty(directory: Path, deadline_s: float) -> bool:
    """Remove a group, killing what is left in it, until ``deadline_s`` (monotonic)."""
    while True:
        try:
            directory.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline_s:
                return False
        for pid in _procs(directory):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def remove_stale_groups(support: CgroupSupport) -> int:
    """Remove run groups whose owning orchestrator is dead; kill what is still inside them.

    Only groups named ``claude-pm-<pid>-<n>`` directly under our own group
    are considered, and only when ``<pid>`` is not a live process.
    """
    parents = [support.v2_dir] if support.v2_dir else list(support.v1_dirs.values())
    removed = 0
    for parent in parents:
        if parent is None:
            continue
        try:
            entries = list(parent.iterdir())
        except OSError:
            continue
        for entry in entries:
            match = _GROUP_NAME.match(entry.name)
            if not match or not entry.is_dir():
                continue
            owner = int(match.group(1))
            if owner == os.getpid() or _owner_alive(owner):
                continue
            left = _procs(entry)
            if left:
                log.warning(
                    "killing %d processes left in %s by dead pid %d", len(left), entry, owner
                )
            # A group that looks empty but will not go holds processes we cannot see
            # (another pid namespace): leave it after a short try.
            if _rmdir_when_empty(entry, time.monotonic() + (2.0 if left else 0.1)):
                removed += 1
    return removed


class RunGroups:
    """The groups of one run: membership, peak, OOM count, freeze, kill, removal."""

    def __init__(self, name: str, dirs: dict[str, Path], v2: bool, limit_set: bool) -> None:
        self.name = name
        self.dirs = dirs
        self.v2 = v2
        self.limit_set = limit_set

    @classmethod
    def create(cls, support: CgroupSupport, *, memory_limit_bytes: int | None) -> RunGroups | None:
        """Make this run's groups; ``None`` when no controller could be used."""
        name = f"{GROUP_PREFIX}{os.getpid()}-{next(_sequence)}"
        if support.v2_dir is not None:
            directory = support.v2_dir / name
            try:
                directory.mkdir()
            except OSError as e:
                log.warning("cannot create cgroup %s: %s", directory, e)
                return None
            limit_set = False
            if memory_limit_bytes is not None:
                limit_set = _write(directory / "memory.max", str(memory_limit_bytes))
                _write(directory / "memory.swap.max", "0")
                _write(directory / "memory.oom.group", "1")
            return cls(name, {"unified": directory}, v2=True, limit_set=limit_set)
        dirs: dict[str, Path] = {}
        for controller, parent in support.v1_dirs.items():
            with contextlib.suppress(OSError):
                (parent / name).mkdir()
                dirs[controller] = parent / name
        if not dirs:
            return None
        limit_set = False
        memory = dirs.get("memory")
        if memory is not None and memory_limit_bytes is not None:
            _write(memory / "memory.swappiness", "0")
            limit_set = _write(memory / "memory.limit_in_bytes", str(memory_limit_bytes))
            if limit_set:
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_limit_bytes))
        return cls(name, dirs, v2=False, limit_set=limit_set)

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    @property
    def controllers(self) -> list[str]:
        prefix = "cgroup_v2" if self.v2 else "cgroup_v1"
        return [f"{prefix}:{c}" for c in self.dirs]

    def pids(self) -> set[int]:
        """Every process in the run's groups (the child joined all of them, so one is read)."""
        for controller in ("unified", "pids", "memory", "freezer"):
            if controller in self.dirs:
                return _procs(self.dirs[controller])
        return set()

    def _memory_dir(self) -> Path | None:
        return self.dirs.get("unified") if self.v2 else self.dirs.get("memory")

    def peak_bytes(self) -> int | None:
        """The group's peak memory charge (includes page cache on v1)."""
        directory = self._memory_dir()
        if directory is None:
            return None
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return _read_int(directory / name)

    def oom_kills(self) -> int:
        """How many processes the kernel killed for this group's memory limit."""
        directory = self._memory_dir()
        if directory is None:
            return 0
        if self.v2:
            return _read_key(directory / "memory.events", "oom_kill") or 0
        return _read_key(directory / "memory.oom_control", "oom_kill") or 0

    def freeze(self, timeout_s: float = 1.0) -> bool:
        """Stop every member so none can fork while the tree is killed."""
        if self.v2:
            directory = self.dirs["unified"]
            if not _write(directory / "cgroup.freeze", "1"):
                return False
            return self._wait_for(
                lambda: _read_key(directory / "cgroup.events", "frozen") == 1, timeout_s
            )
        freezer = self.dirs.get("freezer")
        if freezer is None or not _write(freezer / "freezer.state", "FROZEN"):
            return False

        def frozen() -> bool:
            try:
                return (freezer / "freezer.state").read_text().strip() == "FROZEN"
            except OSError:
                return False

        return self._wait_for(frozen, timeout_s)

    def thaw(self) -> None:
        if self.v2:
            _write(self.dirs["unified"] / "cgroup.freeze", "0")
        elif "freezer" in self.dirs:
            _write(self.dirs["freezer"] / "freezer.state", "THAWED")

    def kill_all(self) -> bool:
        """One-write kill of the whole group (v2 ``cgroup.kill``); False when not offered."""
        if not self.v2:
            return False
        directory = self.dirs["unified"]
        return (directory / "cgroup.kill").exists() and _write(directory / "cgroup.kill", "1")

    @staticmethod
    def _wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)

    def remove(self, timeout_s: float = 2.0) -> list[Path]:
        """Remove every group of the run; returns the ones that could not be removed."""
        deadline = time.monotonic() + timeout_s
        self.thaw()
        return [d for d in self.dirs.values() if not _rmdir_when_empty(d, deadline)]


def all_run_dirs(support: CgroupSupport) -> Iterable[Path]:
    """Every claude-pm run group currently under our own groups (for tests and tools)."""
    parents = [support.v2_dir] if support.v2_dir else list(support.v1_dirs.values())
    for parent in parents:
        if parent is None:
            continue
        with contextlib.suppress(OSError):
            yield from (p for p in parent.iterdir() if _GROUP_NAME.match(p.name))
