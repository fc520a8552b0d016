"""Removing old run directories: ``claude-pm runs prune`` and the ``runs_retention_days`` setting.

Every run leaves ``<state>/runs/<run_id>/`` (the hand-off, the logs, what the
backend reported); nothing removes them by itself unless asked. :func:`prune_runs`
removes the directories of runs that ended (by their record: ``finished_at``,
else ``started_at``) more than ``older_than_days`` ago, keeping the ``keep``
newest runs whatever their age. It never removes the directory of a run
recorded as ``running`` (runs of dead orchestrators are reclaimed first, see
:meth:`~claude_pm.agents.runs.RunStore.reclaim`), nor a directory whose name is
not its run's id. With ``runs_dir``, directories there that no run record
names (left by an interrupted start, or a deleted database) are removed too
when their last change is older than ``older_than_days``. The records stay in
``state.db`` (a pruned run's logs are simply gone).

When ``runs_retention_days`` is set, :func:`prune_when_due` prunes with it at
most once a day per database (the time of the last prune is kept in the
``meta`` table), when a run store is made: one indexed read when nothing is due.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from claude_pm.errors import InvalidInput, StoreError

if TYPE_CHECKING:
    from claude_pm.agents.runs import RunStore

log = logging.getLogger(__name__)

#: The shape of a run id (``new_run_id``): only such directories are ever removed.
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
#: The ``meta`` key holding when runs were last pruned automatically (seconds since epoch).
PRUNED_AT_KEY = "runs_pruned_at"
#: At most one automatic prune per this many seconds.
PRUNE_EVERY_S = 24 * 3600.0
DAY_S = 24 * 3600.0


@dataclass(frozen=True)
class PrunedRun:
    """One run directory removed (or, on a dry run, that would be)."""

    path: str
    size_bytes: int
    #: None for a directory no run record names.
    run_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune_runs` removed and what it left alone, and why."""

    removed: tuple[PrunedRun, ...]
    failed: tuple[PrunedRun, ...]
    #: Directories of runs recorded as running, left alone.
    running: int
    #: Directories kept because they belong to the newest ``keep`` runs.
    kept_newest: int
    dry_run: bool

    @property
    def freed_bytes(self) -> int:
        return sum(r.size_bytes for r in self.removed)

    def message(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        text = (
            f"{verb} {len(self.removed)} run directories "
            f"({self.freed_bytes / (1024 * 1024):.1f} MB)"
        )
        if self.kept_newest:
            text += f", kept the {self.kept_newest} newest"
        if self.running:
            text += f", left {self.running} of running runs alone"
        if self.failed:
            text += f"; could not remove {len(self.failed)}: " + "; ".join(
                f"{f.path}: {f.error}" for f in self.failed[:3]
            )
        return text


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                continue
    return total


def _removable(path: Path, run_id: str | None) -> bool:
    """A real directory (not a link) named like a run id (its own, when known)."""
    if not RUN_ID.match(path.name) or (run_id is not None and path.name != run_id):
        return False
    return path.is_dir() and not path.is_symlink()


def prune_runs(
    store: RunStore,
    *,
    older_than_days: float | None = None,
    keep: int | None = None,
    dry_run: bool = False,
    runs_dir: Path | None = None,
    now: float | None = None,
) -> PruneReport:
    """Remove the directories of old runs (see the module docstring).

    Raises:
        InvalidInput: neither ``older_than_days`` nor ``keep`` is given, or one is negative.
        StoreError: the run records cannot be read.
    """
    if older_than_days is None and keep is None:
        raise InvalidInput(
            "Say what to prune: --older-than DAYS, --keep N, or both (or set runs_retention_days).",
            field="older_than_days",
        )
    if (older_than_days is not None and older_than_days < 0) or (keep is not None and keep < 0):
        raise InvalidInput("--older-than and --keep must not be negative.", field="keep")
    now = time.time() if now is None else now
    cutoff = None if older_than_days is None else now - older_than_days * DAY_S
    database = store.database
    with database.guard("list runs to prune"), database.connection() as conn:
        rows = conn.execute(
            "SELECT run_id, status, started_at, finished_at, run_dir FROM runs "
            "ORDER BY started_at DESC"
        ).fetchall()
    candidates: list[tuple[Path, str | None]] = []
    running = kept = 0
    named: set[str] = set()
    for index, row in enumerate(rows):
        if row["run_dir"]:
            named.add(os.path.normpath(row["run_dir"]))
        path = Path(row["run_dir"]) if row["run_dir"] else None
        if path is None or not _removable(path, row["run_id"]):
            continue
        if row["status"] == "running":
            running += 1
        elif keep is not None and index < keep:
            kept += 1
        elif cutoff is None or (row["finished_at"] or row["started_at"]) < cutoff:
            candidates.append((path, row["run_id"]))
    if runs_dir is not None and cutoff is not None:
        candidates += _unrecorded(runs_dir, named, cutoff)
    removed: list[PrunedRun] = []
    failed: list[PrunedRun] = []
    for path, run_id in candidates:
        size = _size(path)
        if dry_run:
            removed.append(PrunedRun(str(path), size, run_id))
            continue
        try:
            shutil.rmtree(path)
        except OSError as e:
            failed.append(PrunedRun(str(path), size, run_id, error=e.strerror or str(e)))
            continue
        removed.append(PrunedRun(str(path), size, run_id))
    report = PruneReport(tuple(removed), tuple(failed), running, kept, dry_run)
    if removed and not dry_run:
        log.info("runs prune: %s", report.message())
    return report


def _unrecorded(runs_dir: Path, named: set[str], cutoff: float) -> list[tuple[Path, str | None]]:
    """Run directories no record names, last changed before ``cutoff``."""
    found: list[tuple[Path, str | None]] = []
    try:
        entries = list(runs_dir.iterdir())
    except OSError:
        return found
    for path in entries:
        if os.path.normpath(path) in named or not _removable(path, None):
            continue
        try:
            changed = path.stat().st_mtime
        except OSError:
            continue
        if changed < cutoff:
            found.append((path, None))
    return found


def prune_when_due(
    store: RunStore, retention_days: float, *, now: float | None = None
) -> PruneReport | None:
    """Prune runs older than ``retention_days`` if the last automatic prune is a day old.

    Never raises: a failure is logged (the next day's prune tries again).
    Returns the report, or None when nothing was due (or it failed).
    """
    now = time.time() if now is None else now
    try:
        with store.database.guard("check when runs were pruned"), store.database.transaction() as c:
            row = c.execute("SELECT value FROM meta WHERE key = ?", (PRUNED_AT_KEY,)).fetchone()
            try:
                last = float(row["value"]) if row is not None else 0.0
            except ValueError:
                last = 0.0
            if now - last < PRUNE_EVERY_S:
                return None
            c.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (PRUNED_AT_KEY, repr(now)),
            )
        return prune_runs(store, older_than_days=retention_days, now=now)
    except (StoreError, InvalidInput) as e:
        log.warning("could not prune old run directories: %s", e.message)
        return None


__all__ = ["PruneReport", "PrunedRun", "prune_runs", "prune_when_due"]
