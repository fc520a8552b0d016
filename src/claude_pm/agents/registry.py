"""The agent registry: definitions from three tiers, merged by precedence, cached by mtime.

Tiers, highest precedence first: the project (``<root>/.claude/agents``), the
user (``~/.claude/agents`` or ``CLAUDE_PM_USER_AGENTS_DIR``) and the
definitions shipped in this package. A file's tier is the configured root it
was found under (a root nested inside another is searched only as itself);
its path text is never inspected. Within a tier a file nearer the root, then
first in path order, wins a name clash, and the clash is a warning.

Every lookup re-checks the modification time and size of each directory and
file seen last time (one ``stat`` each, no reading and no parsing when nothing
changed) and rebuilds, re-parsing only the files that changed, as soon as
anything did. Files modified within :data:`RACY_WINDOW_NS` of the last check
are compared by content as well, because a file system's clock may not tick
between two quick writes.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from claude_pm.agents.definition import AgentDefinition, Tier, agent_type_of
from claude_pm.agents.parsing import ParseOutcome, Problem, Severity, parse_agent_text
from claude_pm.errors import AgentNotFound

if TYPE_CHECKING:
    from claude_pm.config import Settings

log = logging.getLogger(__name__)

#: The definitions that ship with claude-pm.
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"

#: A file or directory changed less than this long before a check is also compared by content.
RACY_WINDOW_NS = 2_000_000_000

_Stamp = tuple[int, int] | None


@dataclass(frozen=True)
class Discovery:
    """What ``discover_available_agents`` reports, before it becomes a dict."""

    agents: tuple[AgentDefinition, ...]
    specialization_filter: str | None
    includes_custom: bool
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    #: Set when the filter matched nothing: the specializations that would match something.
    known_specializations: tuple[str, ...] | None = None


@dataclass(frozen=True)
class _Snapshot:
    winners: Mapping[str, AgentDefinition]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    files: tuple[str, ...]


@dataclass(frozen=True)
class _Parsed:
    stamp: _Stamp
    outcome: ParseOutcome
    data: bytes


class AgentRegistry:
    """Agent definitions from the project, user and shipped tiers; safe to share between threads.

    Args:
        project_dir: the project tier's root (``<project>/.claude/agents``), or None.
        user_dir: the user tier's root, or None.
        shipped_dir: the shipped tier's root; tests may point it elsewhere.
    """

    def __init__(
        self,
        project_dir: Path | None,
        user_dir: Path | None,
        shipped_dir: Path = SHIPPED_DIR,
    ) -> None:
        roots: list[tuple[Tier, Path]] = []
        seen: set[str] = set()
        for tier, directory in (
            (Tier.PROJECT, project_dir),
            (Tier.USER, user_dir),
            (Tier.SHIPPED, shipped_dir),
        ):
            if directory is None:
                continue
            path = Path(directory).expanduser().absolute()
            real = os.path.realpath(path)
            if real in seen:  # the same folder configured twice belongs to the higher tier
                continue
            seen.add(real)
            roots.append((tier, path))
        self._roots = tuple(roots)
        self._real_roots = frozenset(seen)
        self._lock = threading.RLock()
        self._stamps: dict[str, _Stamp] = {}
        self._racy: dict[str, bytes | tuple[str, ...]] = {}
        self._parsed: dict[str, _Parsed] = {}
        self._snapshot: _Snapshot | None = None
        self._discoveries: dict[tuple[str | None, bool], Discovery] = {}
        #: Files parsed since this registry was made (the cache is visible through it).
        self.files_parsed = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AgentRegistry:
        return cls(settings.project_agents_dir, settings.user_agents_dir)

    @property
    def roots(self) -> tuple[tuple[Tier, Path], ...]:
        """The configured ``(tier, directory)`` pairs, highest precedence first."""
        return self._roots

    def agents(self, include_custom: bool = True) -> list[AgentDefinition]:
        """The winning definition of each agent type, sorted by type."""
        winners = self._current().winners.values()
        return [d for d in winners if include_custom or not d.custom]

    def get(self, agent_type: str) -> AgentDefinition:
        """The definition of ``agent_type`` (``data-engineer``, ``data_engineer``, any case).

        Raises:
            AgentNotFound: no tier defines it; the error lists the valid types.
        """
        snapshot = self._current()
        definition = snapshot.winners.get(agent_type_of(str(agent_type)))
        if definition is None:
            raise AgentNotFound(str(agent_type), list(snapshot.winners))
        return definition

    def problems(self) -> list[Problem]:
        """Errors: one for each file that was not loaded, with the reason."""
        return list(self._current().problems)

    def warnings(self) -> list[Problem]:
        """Warnings about loaded files (unknown fields, same-tier name clashes...)."""
        return list(self._current().warnings)

    def files(self) -> tuple[Path, ...]:
        """Every definition file found in the tiers, loaded or not."""
        return tuple(Path(p) for p in self._current().files)

    def discover(self, specialization: str | None = None, include_custom: bool = True) -> Discovery:
        """The agents available, optionally those with ``specialization`` (case-insensitive)."""
        wanted = specialization.strip().casefold() if specialization else None
        with self._lock:
            snapshot = self._current()
            key = (wanted or None, include_custom)
            cached = self._discoveries.get(key)
            if cached is not None and cached.specialization_filter == specialization:
                return cached
            pool = [d for d in snapshot.winners.values() if include_custom or not d.custom]
            chosen = pool
            known: tuple[str, ...] | None = None
            if wanted:
                chosen = [d for d in pool if wanted in {s.casefold() for s in d.specializations}]
                if not chosen:
                    known = tuple(sorted({s.casefold() for d in pool for s in d.specializations}))
            discovery = Discovery(
                agents=tuple(chosen),
                specialization_filter=specialization,
                includes_custom=include_custom,
                problems=snapshot.problems,
                warnings=snapshot.warnings,
                known_specializations=known,
            )
            self._discoveries[key] = discovery
            return discovery

    # -- caching -----------------------------------------------------------------------

    def _current(self) -> _Snapshot:
        with self._lock:
            if self._snapshot is None or not self._unchanged():
                started = time.perf_counter()
                parsed_before = self.files_parsed
                self._snapshot = self._rebuild()
                self._discoveries.clear()
                log.debug(
                    "agent registry rebuilt: %d agents, %d files parsed, %d problems in %.1f ms",
                    len(self._snapshot.winners),
                    self.files_parsed - parsed_before,
                    len(self._snapshot.problems),
                    (time.perf_counter() - started) * 1000,
                )
            return self._snapshot

    def _unchanged(self) -> bool:
        for path, stamp in self._stamps.items():
            try:
                st = os.stat(path)  # noqa: PTH116 (hot path: a str path, no Path object)
            except OSError:
                if stamp is None:
                    continue
                return False
            if stamp is None or (st.st_mtime_ns, st.st_size) != stamp:
                return False
        if self._racy:
            return self._racy_unchanged()
        return True

    def _racy_unchanged(self) -> bool:
        now_ns = time.time_ns()
        for path, token in list(self._racy.items()):
            try:
                current = _dir_token(path) if isinstance(token, tuple) else _read(path)
            except OSError:
                return False
            if current != token:
                return False
            stamp = self._stamps.get(path)
            if stamp is not None and now_ns - stamp[0] > RACY_WINDOW_NS:
                del self._racy[path]  # any later change will show in its mtime
        return True

    def _rebuild(self) -> _Snapshot:
        now_ns = time.time_ns()
        stamps: dict[str, _Stamp] = {}
        racy: dict[str, bytes | tuple[str, ...]] = {}
        parsed: dict[str, _Parsed] = {}
        winners: dict[str, AgentDefinition] = {}
        shadowed: dict[str, list[Path]] = {}
        problems: list[Problem] = []
        warnings: list[Problem] = []
        files: list[str] = []
        for tier, root in self._roots:
            for path, stamp in self._walk(str(root), stamps, racy, now_ns):
                files.append(path)
                entry = self._parse(path, stamp, tier, now_ns)
                parsed[path] = entry
                if stamp is not None and now_ns - stamp[0] <= RACY_WINDOW_NS:
                    racy[path] = entry.data
                outcome = entry.outcome
                if outcome.problems:
                    problems.extend(outcome.errors)
                    warnings.extend(outcome.warnings)
                definition = outcome.definition
                if definition is None:
                    continue
                agent_type = definition.agent_type
                winner = winners.get(agent_type)
                if winner is None:
                    winners[agent_type] = definition
                    continue
                shadowed.setdefault(agent_type, []).append(outcome.path)
                if winner.tier is tier:
                    warnings.append(_clash(definition, winner))
        self._stamps, self._racy, self._parsed = stamps, racy, parsed
        merged = {
            t: replace(d, shadows=tuple(shadowed[t])) if t in shadowed else d
            for t, d in sorted(winners.items())
        }
        return _Snapshot(merged, tuple(problems), tuple(warnings), tuple(files))

    def _parse(self, path: str, stamp: _Stamp, tier: Tier, now_ns: int) -> _Parsed:
        cached = self._parsed.get(path)
        fresh = stamp is not None and now_ns - stamp[0] > RACY_WINDOW_NS
        if cached is not None and cached.stamp == stamp and fresh:
            return cached
        try:
            data = _read(path)
        except OSError as e:
            problem = Problem(Path(path), f"cannot read the file: {e.strerror or e}")
            return _Parsed(stamp, ParseOutcome(Path(path), None, (problem,)), b"")
        if cached is not None and cached.stamp == stamp and cached.data == data:
            return cached
        self.files_parsed += 1
        return _Parsed(stamp, parse_agent_text(data, Path(path), tier), data)

    def _walk(
        self,
        root: str,
        stamps: dict[str, _Stamp],
        racy: dict[str, bytes | tuple[str, ...]],
        now_ns: int,
    ) -> list[tuple[str, _Stamp]]:
        """Definition files under ``root``, nearest first, then in path order; stamps every dir."""
        try:
            root_stat = os.stat(root)  # noqa: PTH116 (str paths: thousands of entries)
        except OSError:
            stamps[root] = None
            return []
        if not stat.S_ISDIR(root_stat.st_mode):
            stamps[root] = (root_stat.st_mtime_ns, root_stat.st_size)
            return []
        found: list[tuple[int, str, str, _Stamp]] = []
        visited = {(root_stat.st_dev, root_stat.st_ino)}
        pending = [root]
        prefix = len(root) + 1
        while pending:
            directory = pending.pop()
            try:
                dir_stat = os.stat(directory)  # noqa: PTH116
                with os.scandir(directory) as scan:
                    entries = list(scan)
            except OSError:
                stamps[directory] = None
                continue
            stamps[directory] = (dir_stat.st_mtime_ns, dir_stat.st_size)
            if now_ns - dir_stat.st_mtime_ns <= RACY_WINDOW_NS:
                racy[directory] = tuple(sorted(e.name for e in entries))
            for entry in entries:
                name = entry.name
                if name[0] == ".":
                    continue
                try:
                    if entry.is_dir():
                        if os.path.realpath(entry.path) in self._real_roots:
                            continue  # another tier's root: its files belong to that tier
                        st = entry.stat()
                        if (st.st_dev, st.st_ino) not in visited:
                            visited.add((st.st_dev, st.st_ino))
                            pending.append(entry.path)
                    elif _is_definition_name(name) and entry.is_file():
                        st = entry.stat()
                        relative = entry.path[prefix:]
                        depth = relative.count(os.sep)
                        found.append((depth, relative, entry.path, (st.st_mtime_ns, st.st_size)))
                except OSError:
                    continue
        found.sort()
        for _, _, path, stamp in found:
            stamps[path] = stamp
        return [(path, stamp) for _, _, path, stamp in found]


def _is_definition_name(name: str) -> bool:
    # A README beside the agents documents them; it is not an agent.
    return name.endswith(".md") and name.lower() != "readme.md"


def _read(path: str) -> bytes:
    with open(path, "rb") as f:  # noqa: PTH123 (hot path: avoid building a Path)
        return f.read()


def _dir_token(path: str) -> tuple[str, ...]:
    with os.scandir(path) as entries:
        return tuple(sorted(e.name for e in entries))


def _clash(loser: AgentDefinition, winner: AgentDefinition) -> Problem:
    assert loser.source_path is not None
    return Problem(
        loser.source_path,
        f"agent type {loser.agent_type!r} is also defined by {winner.source_path}, which wins "
        f"(both in the {winner.tier} tier); rename one of them",
        None,
        "name",
        "one definition per agent type in a tier",
        Severity.WARNING,
    )
