"""One walk of one tier's root: the definition files in it, and the stamps that tell a change.

The walk stays inside the tier (the limits are in :mod:`claude_pm.agents.limits`):

- a symbolic link to a folder is followed only when its target lies inside
  the tier's root, and each folder is walked once however many links lead to
  it; a link to a definition file likewise, and such a file is read at its
  resolved target. A link whose target lies outside is a problem for the
  link's path that names the target; the walk never leaves the root, so a
  link to ``/`` costs one ``realpath``.
- at most :data:`~claude_pm.agents.limits.MAX_DIRECTORIES_PER_TIER` folders
  and :data:`~claude_pm.agents.limits.MAX_ENTRIES_PER_TIER` directory entries
  are examined per tier; past either, the walk stops and a problem says where
  and what was left unread.
- hidden names (a leading ``.``) are skipped, and so is a folder that is
  another tier's root (its files belong to that tier).

Every folder walked is stamped with its modification time and size (and, when
it changed within :data:`RACY_WINDOW_NS`, its listing is kept too, because a
file system's clock may not tick between two quick writes), so that the
registry can tell from one ``stat`` per path whether anything changed.
"""

from __future__ import annotations

import itertools
import os
import stat
from pathlib import Path

from claude_pm.agents.definition import Tier
from claude_pm.agents.limits import MAX_DIRECTORIES_PER_TIER, MAX_ENTRIES_PER_TIER
from claude_pm.agents.parsing import Problem, read_definition_bytes

#: A file or directory changed less than this long before a check is also compared by content.
RACY_WINDOW_NS = 2_000_000_000

#: ``(st_mtime_ns, st_size)``, or None for a path that could not be read.
Stamp = tuple[int, int] | None


#: A definition file found: ``(depth, relative path, path, read path, stamp)``, sortable as
#: the walk's order (nearest first, then by path); the read path is a link's resolved target.
Found = tuple[int, str, str, str, Stamp]


class TierWalk:
    """One walk of one tier's root: definition files, nearest first, then in path order.

    Every folder walked is stamped (and, when recently changed, its listing
    kept) so that the next lookup can tell whether anything changed.
    """

    def __init__(
        self, root: str, real_root: str, tier: Tier, real_roots: frozenset[str], now_ns: int
    ) -> None:
        self.root = root
        self.real_root = real_root
        self.inside_prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
        self.tier = tier
        self.other_roots = real_roots - {real_root}
        self.now_ns = now_ns
        self.problems: list[Problem] = []
        self.entries_examined = 0

    def inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.inside_prefix)

    def run(
        self, stamps: dict[str, Stamp], racy: dict[str, bytes | tuple[str, ...]]
    ) -> list[Found]:
        """The definition files; ``stamps`` gets every folder and file, ``racy`` recent listings."""
        root = self.root
        try:
            root_stat = os.stat(root)  # noqa: PTH116 (str paths: thousands of entries)
        except OSError:
            stamps[root] = None
            return []
        if not stat.S_ISDIR(root_stat.st_mode):
            stamps[root] = (root_stat.st_mtime_ns, root_stat.st_size)
            return []
        found: list[Found] = []
        visited = {(root_stat.st_dev, root_stat.st_ino)}
        # (path as walked, its real path): the real path of a folder that is not a link
        # is its parent's real path and its name, so no realpath() call is needed for it.
        pending = [(root, self.real_root.rstrip(os.sep))]
        prefix = len(root) + 1
        folders_left, entries_left = MAX_DIRECTORIES_PER_TIER, MAX_ENTRIES_PER_TIER
        other_roots = self.other_roots
        while pending:
            if folders_left == 0:
                self.stopped(f"{MAX_DIRECTORIES_PER_TIER:,} folders", pending, None)
                break
            folders_left -= 1
            directory, real_directory = pending.pop()
            try:
                dir_stat = os.stat(directory)  # noqa: PTH116
                with os.scandir(directory) as scan:
                    entries = list(itertools.islice(scan, entries_left + 1))
            except OSError:
                stamps[directory] = None
                continue
            cut = len(entries) > entries_left
            if cut:
                entries = entries[:entries_left]
            entries_left -= len(entries)
            self.entries_examined += len(entries)
            stamps[directory] = (dir_stat.st_mtime_ns, dir_stat.st_size)
            if not cut and self.now_ns - dir_stat.st_mtime_ns <= RACY_WINDOW_NS:
                racy[directory] = tuple(sorted(e.name for e in entries))
            for entry in entries:
                name = entry.name
                if name[0] == ".":
                    continue
                try:
                    if entry.is_symlink():
                        self.link(entry, visited, pending, found, prefix)
                    elif entry.is_dir():
                        real = real_directory + os.sep + name
                        if real in other_roots:
                            continue  # another tier's root: its files belong to that tier
                        st = entry.stat()
                        if (st.st_dev, st.st_ino) not in visited:
                            visited.add((st.st_dev, st.st_ino))
                            pending.append((entry.path, real))
                    elif is_definition_name(name) and entry.is_file():
                        st = entry.stat()
                        path = entry.path
                        relative = path[prefix:]
                        stamp = (st.st_mtime_ns, st.st_size)
                        found.append((relative.count(os.sep), relative, path, path, stamp))
                except OSError:
                    continue
            if cut:
                self.stopped(f"{MAX_ENTRIES_PER_TIER:,} directory entries", pending, directory)
                break
        found.sort()  # by depth, then relative path (unique)
        for _, _, found_path, _, found_stamp in found:
            stamps[found_path] = found_stamp
        return found

    def link(
        self,
        entry: os.DirEntry[str],
        visited: set[tuple[int, int]],
        pending: list[tuple[str, str]],
        found: list[Found],
        prefix: int,
    ) -> None:
        """A symbolic link: followed when its target lies inside the root, else a problem."""
        real = os.path.realpath(entry.path)
        if not self.inside(real):
            self.outside(entry, real)
        elif entry.is_dir():
            if real in self.other_roots:
                return
            st = entry.stat()
            if (st.st_dev, st.st_ino) not in visited:
                visited.add((st.st_dev, st.st_ino))
                pending.append((entry.path, real.rstrip(os.sep)))
        elif is_definition_name(entry.name) and entry.is_file():
            st = entry.stat()
            relative = entry.path[prefix:]
            stamp = (st.st_mtime_ns, st.st_size)
            found.append((relative.count(os.sep), relative, entry.path, real, stamp))

    def outside(self, entry: os.DirEntry[str], real: str) -> None:
        """A link whose target lies outside the root: a problem, if it would have been read."""
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if not is_dir and not is_definition_name(entry.name):
            return
        what = "folder" if is_dir else "file"
        self.problems.append(
            Problem(
                Path(entry.path),
                f"a symbolic link to a {what} outside the {self.tier} tier's root "
                f"({self.real_root}): {real}; not followed, so nothing there is loaded "
                f"(copy the {what} into the tier's folder instead)",
                None,
                None,
                f"links whose target stays inside {self.real_root}",
            )
        )

    def stopped(self, limit: str, pending: list[tuple[str, str]], directory: str | None) -> None:
        """The walk passed a limit: say where it stopped and what was left unread."""
        unread = [path for path, _ in pending]
        left: list[str] = []
        if directory is not None:
            left.append(f"the rest of {directory}")
        if unread:
            shown = ", ".join(unread[-3:][::-1])
            more = f" and {len(unread) - 3:,} more" if len(unread) > 3 else ""
            left.append(f"{len(unread):,} folders not walked ({shown}{more})")
        self.problems.append(
            Problem(
                Path(self.root),
                f"the {self.tier} tier holds more than {limit}; claude-pm stopped walking it "
                f"there, so {' and '.join(left) or 'nothing more'} was not read",
                None,
                None,
                f"at most {MAX_DIRECTORIES_PER_TIER:,} folders and "
                f"{MAX_ENTRIES_PER_TIER:,} directory entries per tier",
            )
        )


def is_definition_name(name: str) -> bool:
    # A README beside the agents documents them; it is not an agent.
    return name.endswith(".md") and name.lower() != "readme.md"


def read_file(path: str) -> bytes:
    # Not following a link: one that passed the walk's check is read at its target.
    return read_definition_bytes(path, follow_symlinks=False)


def dir_token(path: str) -> tuple[str, ...]:
    with os.scandir(path) as entries:
        return tuple(sorted(e.name for e in itertools.islice(entries, MAX_ENTRIES_PER_TIER + 1)))
