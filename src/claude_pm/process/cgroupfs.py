"""Reading the cgroup hierarchy, and making a cgroup v2 group usable for run groups.

Where our own groups are comes from ``/proc/self/mountinfo`` and
``/proc/self/cgroup``. On cgroup v1 a writable group is enough. On cgroup v2 a
run group gets a memory limit only when ``memory`` is enabled in our group's
``cgroup.subtree_control``, and the kernel refuses that while our group holds
processes (the "no internal processes" rule) — ours holds the orchestrator,
the normal case inside a systemd ``Delegate=yes`` scope or a container. So:

1. :func:`read_v2_state` reads what matters of our group (controllers,
   subtree_control, cgroup.procs, cgroup.type, writability) through a
   :class:`CgroupFS`.
2. :func:`plan_v2` decides, purely, what to do: nothing (memory is already
   enabled), or — when we are alone in our group — move this process into a
   leaf child ``claude-pm-orchestrator-<pid>`` and enable ``memory`` (and
   ``pids``) for run groups made beside it; or that v2 is unusable, and why.
3. :func:`apply_v2_plan` performs the steps through the same
   :class:`CgroupFS`, and undoes the move when the kernel refuses a step.

:func:`setup_v2` does all three for a cgroupfs root given as a parameter, so
the tests run it against a directory tree with a simulated kernel. The real
kernel path is verified only where a machine offers a delegated v2 hierarchy.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

LEAF_PREFIX = "claude-pm-orchestrator-"
LEAF_NAME = re.compile(r"^claude-pm-orchestrator-(\d+)$")
#: Controllers run groups get on v2, in the order they are enabled; only memory is required.
V2_WANTED = ("memory", "pids")
_DOMAIN_TYPES = ("domain",)


class CgroupFS(Protocol):
    """The few operations on cgroupfs that setting up v2 needs (tests pass a simulated kernel)."""

    def read(self, path: Path) -> str: ...

    def write(self, path: Path, value: str) -> None: ...

    def mkdir(self, path: Path) -> None: ...

    def rmdir(self, path: Path) -> None: ...

    def writable(self, path: Path) -> bool: ...


class RealCgroupFS:
    """The kernel's cgroupfs, through plain file operations."""

    def read(self, path: Path) -> str:
        return path.read_text()

    def write(self, path: Path, value: str) -> None:
        # One write(2) per value: cgroupfs acts on each write, not on the file's content.
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def mkdir(self, path: Path) -> None:
        path.mkdir()

    def rmdir(self, path: Path) -> None:
        path.rmdir()

    def writable(self, path: Path) -> bool:
        return os.access(path, os.W_OK)


REAL_FS = RealCgroupFS()


# -- where our groups are ---------------------------------------------------------------


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


Mount = tuple[str, str, str, set[str]]


def mounts(text: str | None = None) -> list[Mount]:
    """(fstype, mount root, mount point, super options) for each cgroup mount."""
    if text is None:
        try:
            text = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return []
    found = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), set(tail[2].split(","))))
    return found


def own_paths(text: str | None = None) -> dict[str, str]:
    """Our group path per v1 controller, and under ``""`` the v2 path."""
    if text is None:
        try:
            text = Path("/proc/self/cgroup").read_text()
        except OSError:
            return {}
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def resolve(mount_root: str, mount_point: str, group: str) -> Path | None:
    """The directory of ``group`` under a mount of ``mount_root`` at ``mount_point``."""
    if mount_root != "/" and not (group == mount_root or group.startswith(mount_root + "/")):
        return None
    rel = group[len(mount_root) :] if mount_root != "/" else group
    return Path(mount_point + rel.rstrip("/")) if rel.strip("/") else Path(mount_point)


# -- cgroup v2: what we read, what we plan, what we did ---------------------------------


@dataclass(frozen=True)
class V2State:
    """What was read of our own v2 group (``is_root``: it is the mount's top directory)."""

    group: Path
    pid: int
    is_root: bool
    writable: bool
    controllers: frozenset[str]
    subtree_control: frozenset[str]
    procs: frozenset[int]
    group_type: str | None
    #: When our group is a leaf a claude-pm orchestrator made: its parent's subtree_control.
    parent_subtree_control: frozenset[str] | None = None


class StepKind(StrEnum):
    MKDIR = "mkdir"
    MOVE = "move"
    ENABLE = "enable"


@dataclass(frozen=True)
class Step:
    """One write of a plan; an optional step may fail without failing the plan."""

    kind: StepKind
    path: Path
    value: str = ""
    required: bool = True


@dataclass(frozen=True)
class V2Plan:
    """What :func:`plan_v2` decided: where run groups go (None: v2 unusable) and the steps."""

    run_parent: Path | None
    steps: tuple[Step, ...]
    reason: str
    leaf: Path | None = None
    controllers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class V2Outcome:
    """What became of a plan: where run groups go, which controllers they get, and why."""

    run_parent: Path | None
    controllers: frozenset[str]
    reason: str
    leaf: Path | None = None


def _words(fs: CgroupFS, path: Path) -> frozenset[str]:
    return frozenset(fs.read(path).split())


def read_v2_state(fs: CgroupFS, mount_point: Path, group: Path, pid: int) -> V2State | None:
    """Read our v2 group, or None when its files cannot be read (not a v2 group)."""
    try:
        controllers = _words(fs, group / "cgroup.controllers")
        subtree = _words(fs, group / "cgroup.subtree_control")
    except OSError:
        return None
    try:
        procs = frozenset(int(p) for p in fs.read(group / "cgroup.procs").split())
    except (OSError, ValueError):
        procs = frozenset()
    try:
        group_type: str | None = fs.read(group / "cgroup.type").strip()
    except OSError:
        group_type = None  # the root group has no cgroup.type
    parent_subtree = None
    if LEAF_NAME.match(group.name) and group != mount_point:
        with contextlib.suppress(OSError):
            parent_subtree = _words(fs, group.parent / "cgroup.subtree_control")
    return V2State(
        group=group,
        pid=pid,
        is_root=group == mount_point,
        writable=fs.writable(group),
        controllers=controllers,
        subtree_control=subtree,
        procs=procs,
        group_type=group_type,
        parent_subtree_control=parent_subtree,
    )


def plan_v2(state: V2State) -> V2Plan:
    """Decide how run groups get a memory controller under ``state.group``, or why they cannot.

    Pure: what was read in, the plan out. See the module docstring for the rule.
    """
    group = state.group
    if (
        state.parent_subtree_control is not None
        and "memory" in state.parent_subtree_control
        and state.writable
    ):
        # A claude-pm orchestrator moved itself here and enabled memory beside: we are its
        # child process (an agent, a nested command). Run groups go beside the leaf too.
        enabled = frozenset(c for c in V2_WANTED if c in state.parent_subtree_control)
        return V2Plan(
            group.parent,
            (),
            f"memory already enabled beside the orchestrator leaf {group.name}",
            controllers=enabled,
        )
    if "memory" not in state.controllers:
        offered = " ".join(sorted(state.controllers)) or "none"
        return V2Plan(
            None, (), f"memory is not delegated to {group} (cgroup.controllers: {offered})"
        )
    if not state.writable:
        return V2Plan(None, (), f"{group} is not writable by this user")
    if state.group_type is not None and state.group_type not in _DOMAIN_TYPES:
        return V2Plan(None, (), f"{group} is a {state.group_type!r} group, not a domain group")
    wanted = [c for c in V2_WANTED if c in state.controllers]
    missing = [c for c in wanted if c not in state.subtree_control]
    already = frozenset(c for c in wanted if c in state.subtree_control)
    enable = tuple(
        Step(StepKind.ENABLE, group / "cgroup.subtree_control", f"+{c}", required=c == "memory")
        for c in missing
    )
    if "memory" not in missing:
        return V2Plan(
            group,
            enable,
            f"memory already enabled for the children of {group}",
            controllers=already,
        )
    others = state.procs - {state.pid}
    if not others:
        leaf = group / f"{LEAF_PREFIX}{state.pid}"
        steps = (
            Step(StepKind.MKDIR, leaf),
            Step(StepKind.MOVE, leaf / "cgroup.procs", str(state.pid)),
            *enable,
        )
        return V2Plan(
            group,
            steps,
            f"moved the orchestrator into {leaf.name} and enabled "
            f"{' '.join(missing)} for run groups beside it",
            leaf=leaf,
            controllers=frozenset(wanted),
        )
    if state.is_root:
        # The hierarchy's root allows processes beside enabled controllers; a namespace's
        # root that only looks like it does not, and the kernel will say so.
        return V2Plan(
            group,
            enable,
            f"enabled {' '.join(missing)} in the root group",
            controllers=frozenset(wanted),
        )
    return V2Plan(
        None,
        (),
        f"{group} also holds {len(others)} other processes: the kernel enables no controller "
        "for the children of a group with processes in it; run claude-pm in a group of its "
        "own (for example `systemd-run --user --scope -p Delegate=yes claude-pm ...`)",
    )


def apply_v2_plan(plan: V2Plan, fs: CgroupFS) -> V2Outcome:
    """Perform ``plan``'s steps; when the kernel refuses a required one, undo the move."""
    if plan.run_parent is None:
        return V2Outcome(None, frozenset(), plan.reason)
    enabled = set(plan.controllers)
    notes: list[str] = []
    moved_from: Path | None = None
    made: Path | None = None
    for step in plan.steps:
        try:
            if step.kind is StepKind.MKDIR:
                try:
                    fs.mkdir(step.path)
                    made = step.path
                except FileExistsError:
                    pass
            elif step.kind is StepKind.MOVE:
                fs.write(step.path, step.value)
                moved_from = step.path.parent.parent
            else:
                fs.write(step.path, step.value)
        except OSError as e:
            refusal = f"the kernel refused {step.kind} {step.value} at {step.path}: " + (
                e.strerror or errno.errorcode.get(e.errno or 0, str(e))
            )
            if not step.required:
                enabled.discard(step.value.lstrip("+"))
                notes.append(refusal)
                continue
            _undo(fs, plan, moved_from, made)
            return V2Outcome(None, frozenset(), refusal)
    reason = plan.reason + "".join(f"; {n}" for n in notes)
    leaf = plan.leaf if moved_from is not None else None
    return V2Outcome(plan.run_parent, frozenset(enabled), reason, leaf=leaf)


def _undo(fs: CgroupFS, plan: V2Plan, moved_from: Path | None, made: Path | None) -> None:
    if moved_from is not None and plan.leaf is not None:
        pid = next(s.value for s in plan.steps if s.kind is StepKind.MOVE)
        with contextlib.suppress(OSError):
            fs.write(moved_from / "cgroup.procs", pid)
    if made is not None:
        with contextlib.suppress(OSError):
            fs.rmdir(made)


def setup_v2(
    mount_point: Path, group: Path, pid: int | None = None, fs: CgroupFS = REAL_FS
) -> V2Outcome:
    """Read, plan and apply for our v2 group ``group`` under the cgroupfs root ``mount_point``."""
    pid = os.getpid() if pid is None else pid
    state = read_v2_state(fs, mount_point, group, pid)
    if state is None:
        return V2Outcome(None, frozenset(), f"{group} is not a readable cgroup v2 group")
    return apply_v2_plan(plan_v2(state), fs)
