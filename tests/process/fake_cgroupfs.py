"""A simulated cgroup v2 kernel over a directory tree, for the v2 set-up tests.

The tree looks like cgroupfs (``cgroup.controllers``, ``cgroup.subtree_control``,
``cgroup.procs``, ``cgroup.type`` in each group directory) and
:class:`FakeKernel` is the :class:`~claude_pm.process.cgroupfs.CgroupFS` the
code writes through. It enforces what the real kernel enforces on those writes:

* ``+c`` in ``cgroup.subtree_control`` needs ``c`` in the group's
  ``cgroup.controllers`` (else ENOENT), and is refused with EBUSY while the
  group (other than the root) holds processes — the "no internal processes"
  rule; ``hidden`` groups hold processes the reader cannot see;
* a pid written to ``cgroup.procs`` leaves its old group; a group (other than
  the root) with controllers enabled for its children takes no process (EBUSY);
* a new group's ``cgroup.controllers`` are its parent's ``cgroup.subtree_control``;
* ``rmdir`` of a group with processes or children fails with EBUSY.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

FILES = ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "cgroup.type")


class FakeKernel:
    """A :class:`CgroupFS` over ``root`` that refuses what the kernel refuses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.read_only: set[Path] = set()
        #: Groups that hold processes of another pid namespace: never empty to the kernel.
        self.hidden: set[Path] = set()
        #: Controllers whose enabling the kernel refuses anyway (a parent that lacks them).
        self.refused: set[str] = set()
        self.writes: list[tuple[Path, str]] = []
        self._init(root, controllers=("cpu", "io", "memory", "pids"), group_type=None)

    def _init(self, group: Path, controllers: Iterable[str], group_type: str | None) -> None:
        group.mkdir(parents=True, exist_ok=True)
        (group / "cgroup.controllers").write_text(" ".join(controllers) + "\n")
        (group / "cgroup.subtree_control").write_text("\n")
        (group / "cgroup.procs").write_text("")
        if group_type is not None:
            (group / "cgroup.type").write_text(group_type + "\n")

    # -- building the scene --------------------------------------------------------------

    def group(
        self,
        rel: str,
        *,
        controllers: Iterable[str] = ("memory", "pids"),
        procs: Iterable[int] = (),
        group_type: str = "domain",
    ) -> Path:
        """Make the group ``rel`` (its parents enable what it is offered) holding ``procs``."""
        path = self.root / rel
        wanted = list(controllers)
        for parent in reversed(path.parents):
            if parent == self.root or self.root in parent.parents:
                if parent != self.root and not (parent / "cgroup.controllers").exists():
                    self._init(parent, wanted, "domain")
                self._set(parent / "cgroup.subtree_control", wanted)
        self._init(path, wanted, group_type)
        (path / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
        return path

    # -- the CgroupFS ------------------------------------------------------------------

    def read(self, path: Path) -> str:
        return path.read_text()

    def writable(self, path: Path) -> bool:
        return path not in self.read_only

    def mkdir(self, path: Path) -> None:
        if path.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        self._check_writable(path.parent)
        self._init(path, self._words(path.parent / "cgroup.subtree_control"), "domain")

    def rmdir(self, path: Path) -> None:
        if self._procs(path) or path in self.hidden or any(p.is_dir() for p in path.iterdir()):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        for child in path.iterdir():
            child.unlink()
        path.rmdir()

    def write(self, path: Path, value: str) -> None:
        group = path.parent
        self._check_writable(group)
        self.writes.append((path, value))
        if path.name == "cgroup.subtree_control":
            self._enable(group, value.split())
        elif path.name == "cgroup.procs":
            self._move(int(value), group)
        else:
            path.write_text(value)

    # -- the rules -----------------------------------------------------------------------

    def _check_writable(self, group: Path) -> None:
        if group in self.read_only:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(group))

    def _enable(self, group: Path, tokens: list[str]) -> None:
        offered = self._words(group / "cgroup.controllers")
        enabled = self._words(group / "cgroup.subtree_control")
        for token in tokens:
            name = token[1:]
            if token.startswith("+"):
                if name not in offered or name in self.refused:
                    raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), str(group))
                if group != self.root and (self._procs(group) or group in self.hidden):
                    raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(group))
                if name not in enabled:
                    enabled.append(name)
            elif name in enabled:
                enabled.remove(name)
        self._set(group / "cgroup.subtree_control", enabled)

    def _move(self, pid: int, group: Path) -> None:
        if group != self.root and self._words(group / "cgroup.subtree_control"):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(group))
        for procs in self.root.rglob("cgroup.procs"):
            members = self._procs(procs.parent)
            if pid in members:
                members.remove(pid)
                procs.write_text("".join(f"{p}\n" for p in members))
        members = self._procs(group)
        members.append(pid)
        (group / "cgroup.procs").write_text("".join(f"{p}\n" for p in members))

    @staticmethod
    def _words(path: Path) -> list[str]:
        return path.read_text().split()

    @staticmethod
    def _set(path: Path, words: Iterable[str]) -> None:
        path.write_text(" ".join(words) + "\n")

    def _procs(self, group: Path) -> list[int]:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]

    def procs(self, group: Path) -> list[int]:
        """The pids the group holds (for assertions)."""
        return self._procs(group)

    def enabled(self, group: Path) -> set[str]:
        """The group's ``cgroup.subtree_control`` (for assertions)."""
        return set(self._words(group / "cgroup.subtree_control"))
