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

What is read is bounded (the limits are in :mod:`claude_pm.agents.limits`).
The walk (:mod:`claude_pm.agents.walk`) never leaves a tier's root, not even
through a symbolic link, and stops at a number of folders and entries; a file
over :data:`~claude_pm.agents.limits.MAX_FILE_BYTES` is refused from the size
its ``stat`` gave, without being opened, and others are read with at most
limit + 1 bytes; whatever goes wrong with one file (an ``OSError``, an
exception nothing expected) is logged and becomes that file's problem, and
the other files load. :attr:`AgentRegistry.files_parsed` and
:attr:`AgentRegistry.entries_examined` count the work done since the registry
was made.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from claude_pm.agents.definition import AgentDefinition, Tier, agent_type_of
from claude_pm.agents.limits import MAX_FILE_BYTES
from claude_pm.agents.parsing import (
    DefinitionTooLarge,
    ParseOutcome,
    Problem,
    Severity,
    parse_agent_text,
    too_large_problem,
    unreadable_problem,
)
from claude_pm.agents.walk import RACY_WINDOW_NS, Stamp, TierWalk, dir_token, read_file
from claude_pm.errors import AgentNotFound

if TYPE_CHECKING:
    from claude_pm.config import Settings

log = logging.getLogger(__name__)

#: The definitions that ship with claude-pm.
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"

__all__ = ["RACY_WINDOW_NS", "SHIPPED_DIR", "AgentRegistry", "Discovery"]


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
    stamp: Stamp
    outcome: ParseOutcome
    #: The bytes parsed; None when the file was not read (too large, unreadable).
    data: bytes | None


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
        real_roots: list[str] = []
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
            real_roots.append(real)
        self._roots = tuple(roots)
        self._real_of_root = tuple(real_roots)
        self._real_roots = frozenset(seen)
        self._lock = threading.RLock()
        self._stamps: dict[str, Stamp] = {}
        self._racy: dict[str, bytes | tuple[str, ...]] = {}
        self._parsed: dict[str, _Parsed] = {}
        self._snapshot: _Snapshot | None = None
        self._discoveries: dict[tuple[str | None, bool], Discovery] = {}
        #: Files parsed since this registry was made (the cache is visible through it).
        self.files_parsed = 0
        #: Directory entries examined by the walks since this registry was made.
        self.entries_examined = 0
        #: Definition files that are resolved links: path -> target inside the tier.
        self._targets: dict[str, str] = {}

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
                if isinstance(token, tuple):
                    current: bytes | tuple[str, ...] = dir_token(path)
                else:
                    current = read_file(self._targets.get(path, path))
            except (OSError, DefinitionTooLarge):
                return False
            if current != token:
                return False
            stamp = self._stamps.get(path)
            if stamp is not None and now_ns - stamp[0] > RACY_WINDOW_NS:
                del self._racy[path]  # any later change will show in its mtime
        return True

    def _rebuild(self) -> _Snapshot:
        now_ns = time.time_ns()
        stamps: dict[str, Stamp] = {}
        racy: dict[str, bytes | tuple[str, ...]] = {}
        parsed: dict[str, _Parsed] = {}
        targets: dict[str, str] = {}
        winners: dict[str, AgentDefinition] = {}
        shadowed: dict[str, list[Path]] = {}
        problems: list[Problem] = []
        warnings: list[Problem] = []
        files: list[str] = []
        for (tier, root), real_root in zip(self._roots, self._real_of_root, strict=True):
            walk = TierWalk(str(root), real_root, tier, self._real_roots, now_ns)
            found = walk.run(stamps, racy)
            self.entries_examined += walk.entries_examined
            problems.extend(walk.problems)
            for item in found:
                _, _, path, read_path, stamp = item
                files.append(path)
                if read_path != path:
                    targets[path] = read_path
                try:
                    entry = self._parse(path, read_path, stamp, tier, now_ns)
                except Exception as e:  # one file never stops discovery of the others
                    log.exception("agent definition %s could not be read", path)
                    problem = Problem(
                        Path(path), f"claude-pm failed to read this file ({type(e).__name__})"
                    )
                    entry = _refused(stamp, problem)
                parsed[path] = entry
                if (
                    stamp is not None
                    and now_ns - stamp[0] <= RACY_WINDOW_NS
                    and entry.data is not None
                ):
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
        self._stamps, self._racy, self._parsed, self._targets = stamps, racy, parsed, targets
        merged = {
            t: replace(d, shadows=tuple(shadowed[t])) if t in shadowed else d
            for t, d in sorted(winners.items())
        }
        return _Snapshot(merged, tuple(problems), tuple(warnings), tuple(files))

    def _parse(self, path: str, read_path: str, stamp: Stamp, tier: Tier, now_ns: int) -> _Parsed:
        cached = self._parsed.get(path)
        fresh = stamp is not None and now_ns - stamp[0] > RACY_WINDOW_NS
        if cached is not None and cached.stamp == stamp and fresh:
            return cached
        if stamp is not None and stamp[1] > MAX_FILE_BYTES:
            return _refused(stamp, too_large_problem(Path(path), stamp[1]))
        try:
            data = read_file(read_path)
        except DefinitionTooLarge as e:
            return _refused(stamp, too_large_problem(Path(path), e.size_bytes))
        except OSError as e:
            return _refused(stamp, unreadable_problem(Path(path), e))
        if cached is not None and cached.stamp == stamp and cached.data == data:
            return cached
        self.files_parsed += 1
        # parse_agent_text never raises: anything unexpected is already this file's problem.
        return _Parsed(stamp, parse_agent_text(data, Path(path), tier), data)


def _refused(stamp: Stamp, problem: Problem) -> _Parsed:
    return _Parsed(stamp, ParseOutcome(problem.path, None, (problem,)), None)


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
