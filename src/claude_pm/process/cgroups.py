"""Kernel control groups for one run: detect what is writable, create, read, kill, remove.

A run gets its own group under the group the orchestrator itself is in, named
``claude-pm-<owner pid>-<owner start ticks>-<n>`` so a later orchestrator can
tell a leftover of a dead owner from a live run of another one, even when the
owner's pid was reused. Detection happens at run time and is cached per
process (``cgroupfs.py`` reads the hierarchy):

* cgroup v2 with the ``memory`` controller delegated to our group's children
  (it is in our ``cgroup.subtree_control``, or we may add it — moving this
  process into a leaf of its own group first when it is alone there, see
  :func:`~claude_pm.process.cgroupfs.plan_v2`): one group holds memory
  (``memory.max``, ``memory.peak``, ``memory.events``), tasks (``pids.max``),
  freezing (``cgroup.freeze``) and killing (``cgroup.kill``).
* cgroup v1: separate ``memory``, ``pids`` and ``freezer`` hierarchies, each
  used when our group's directory in it is writable.

The child enters its groups before it runs any of its own code (see
``spawn.py``), so every descendant is born inside them and ``cgroup.procs``
lists it even after it left the session with ``setsid``. A run's groups get
a memory limit when one is asked for and a task limit (``pids.max``) when the
spec sets one (:data:`~claude_pm.process.types.DEFAULT_PIDS_LIMIT` by default).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from claude_pm.process.cgroupfs import (
    LEAF_NAME,
    Mount,
    V2Outcome,
    mounts,
    own_paths,
    resolve,
    setup_v2,
)
from claude_pm.process.identity import start_ticks

log = logging.getLogger(__name__)

GROUP_PREFIX = "claude-pm-"
#: ``claude-pm-<pid>-<start ticks>-<n>``; older releases wrote ``claude-pm-<pid>-<n>``.
_GROUP_NAME = re.compile(r"^claude-pm-(\d+)-(?:(\d+)-)?(\d+)$")
_V1_CONTROLLERS = ("memory", "pids", "freezer")
_sequence = count(1)


@dataclass(frozen=True)
class CgroupSupport:
    """Where this process may create run groups: one directory per usable controller.

    ``v2_dir`` is set when a v2 group with memory can be made (``v2_controllers``
    says which controllers its children get); otherwise ``v1_dirs`` maps
    ``memory`` / ``pids`` / ``freezer`` to our own writable group. ``v2_note``
    says how v2 was set up, or why it is not used.
    """

    v2_dir: Path | None
    v1_dirs: dict[str, Path]
    v2_note: str = ""
    v2_controllers: frozenset[str] = field(default_factory=frozenset)

    @property
    def any(self) -> bool:
        return self.v2_dir is not None or bool(self.v1_dirs)

    @property
    def pids_limit_possible(self) -> bool:
        """Whether run groups can get a task limit (``pids.max``)."""
        if self.v2_dir is not None:
            return "pids" in self.v2_controllers
        return "pids" in self.v1_dirs


def _v2_outcome(mounts: list[Mount], own: dict[str, str]) -> V2Outcome | None:
    if "" not in own:
        return None
    outcome = None
    for fstype, root, point, _opts in mounts:
        if fstype != "cgroup2":
            continue
        path = resolve(root, point, own[""])
        if path is None:
            continue
        outcome = setup_v2(Path(point), path)
        if outcome.run_parent is not None:
            return outcome
    return outcome


def _detect() -> CgroupSupport:
    found, own = mounts(), own_paths()
    v2 = _v2_outcome(found, own)
    if v2 is not None and v2.run_parent is not None:
        return CgroupSupport(
            v2_dir=v2.run_parent, v1_dirs={}, v2_note=v2.reason, v2_controllers=v2.controllers
        )
    v1: dict[str, Path] = {}
    for controller in _V1_CONTROLLERS:
        if controller not in own:
            continue
        for fstype, root, point, opts in found:
            if fstype == "cgroup" and controller in opts:
                path = resolve(root, point, own[controller])
                if path is not None and os.access(path, os.W_OK):
                    v1[controller] = path
                    break
    note = v2.reason if v2 is not None else "no cgroup v2 hierarchy with our group in it"
    return CgroupSupport(v2_dir=None, v1_dirs=v1, v2_note=note)


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


def _owner_alive(pid: int, start: int | None) -> bool:
    """Whether the group's owner still runs (the same process, when its start is known)."""
    if start is not None:
        return start_ticks(pid, zombie_ok=False) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _my_start() -> int:
    return start_ticks(os.getpid()) or 0


def group_name() -> str:
    """A fresh run group name owned by this process."""
    return f"{GROUP_PREFIX}{os.getpid()}-{_my_start()}-{next(_sequence)}"


def group_owner(name: str) -> tuple[int, int | None] | None:
    """(pid, start ticks or None for an older name) of a run group's owner; None if not one."""
    match = _GROUP_NAME.match(name)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


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

    Only groups named like ours directly under our own group are considered,
    and only when their owner (pid and start time) is not a live process.
    Empty ``claude-pm-orchestrator-<pid>`` leaves of dead orchestrators go too.
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
            leaf = LEAF_NAME.match(entry.name)
            if (
                leaf
                and int(leaf.group(1)) != os.getpid()
                and not _owner_alive(int(leaf.group(1)), None)
            ):
                with contextlib.suppress(OSError):
                    entry.rmdir()  # only when empty: what lives there is not a run's
                continue
            owner = group_owner(entry.name)
            if owner is None or not entry.is_dir() or _owner_alive(*owner):
                continue
            if owner[0] == os.getpid() and owner[1] is None:
                continue
            left = _procs(entry)
            if left:
                log.warning(
                    "killing %d processes left in %s by dead pid %d", len(left), entry, owner[0]
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
        self.pids_limit: int | None = None

    @classmethod
    def create(
        cls,
        support: CgroupSupport,
        *,
        memory_limit_bytes: int | None,
        pids_limit: int | None = None,
    ) -> RunGroups | None:
        """Make this run's groups; ``None`` when no controller could be used."""
        name = group_name()
        if support.v2_dir is not None:
            directory = support.v2_dir / name
            try:
                directory.mkdir()
            except OSError as e:
                log.warning("cannot create cgroup %s: %s", directory, e)
                return None
            groups = cls(name, {"unified": directory}, v2=True, limit_set=False)
            if memory_limit_bytes is not None:
                groups.limit_set = _write(directory / "memory.max", str(memory_limit_bytes))
                _write(directory / "memory.swap.max", "0")
                _write(directory / "memory.oom.group", "1")
            if pids_limit is not None and "pids" in support.v2_controllers:
                groups.pids_limit = (
                    pids_limit if _write(directory / "pids.max", str(pids_limit)) else None
                )
            return groups
        dirs: dict[str, Path] = {}
        for controller, parent in support.v1_dirs.items():
            with contextlib.suppress(OSError):
                (parent / name).mkdir()
                dirs[controller] = parent / name
        if not dirs:
            return None
        groups = cls(name, dirs, v2=False, limit_set=False)
        memory = dirs.get("memory")
        if memory is not None and memory_limit_bytes is not None:
            _write(memory / "memory.swappiness", "0")
            groups.limit_set = _write(memory / "memory.limit_in_bytes", str(memory_limit_bytes))
            if groups.limit_set:
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_limit_bytes))
        pids = dirs.get("pids")
        if pids is not None and pids_limit is not None:
            groups.pids_limit = pids_limit if _write(pids / "pids.max", str(pids_limit)) else None
        return groups

    @classmethod
    def from_dirs(cls, dirs: Mapping[str, str | Path]) -> RunGroups:
        """The groups of a run recorded elsewhere (``{controller: directory}``), to kill them."""
        paths = {controller: Path(d) for controller, d in dirs.items()}
        name = next(iter(paths.values())).name if paths else ""
        return cls(name, paths, v2="unified" in paths, limit_set=False)

    def pids_refused(self) -> int:
        """How many forks the task limit refused (``pids.events`` ``max``)."""
        directory = self.dirs.get("unified") if self.v2 else self.dirs.get("pids")
        if directory is None:
            return 0
        return _read_key(directory / "pids.events", "max") or 0

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

    @property
    def memory_dir(self) -> Path | None:
        """The group that counts the tree's memory, if the run has one."""
        return self.dirs.get("unified") if self.v2 else self.dirs.get("memory")

    def peak_bytes(self) -> int | None:
        """The group's peak memory charge (includes page cache on v1)."""
        directory = self.memory_dir
        if directory is None:
            return None
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return _read_int(directory / name)

    def oom_kills(self) -> int:
        """How many processes the kernel killed for this group's memory limit."""
        directory = self.memory_dir
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
