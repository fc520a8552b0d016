"""``claude-pm runs``: the agent runs recorded in the project's state database.

Every action first reclaims the runs of dead orchestrators (kills what their
agents left running and marks the runs ``abandoned``) and says on stderr what
it found and did; ``prune`` removes old run directories.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.agents.runs import RunStatus
from claude_pm.cli.guard import EXIT_BAD_INPUT, with_settings
from claude_pm.cli.output import error, print_json

if TYPE_CHECKING:
    from claude_pm.agents.runs import RunRecord, RunStore
    from claude_pm.config import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="list and show recorded agent runs",
        description="Agent runs recorded in PROJECT/.claude-pm/state.db, newest first. A run "
        "left 'running' by an orchestrator that no longer exists (killed with SIGKILL, or the "
        "machine rebooted) is reclaimed first: the processes its agent left are killed (never "
        "those of a live orchestrator, MCP server or worker) and the run is marked "
        "'abandoned'; each is reported on stderr.",
    )
    parser.add_argument("--agent", default=None, help="only runs of this agent type")
    parser.add_argument(
        "--status", choices=[s.value for s in RunStatus], default=None, help="only runs with it"
    )
    parser.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=list_command)
    commands = parser.add_subparsers(dest="runs_command", metavar="ACTION")
    show = commands.add_parser("show", help="one run: outcome, measurements, log paths")
    show.add_argument("run_id", help="the run id, e.g. 20261125T201140Z-a2240019")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=show_command)
    prune = commands.add_parser(
        "prune",
        help="remove old run directories (never a running run's)",
        description="Remove the directories (logs, hand-off, result) of runs that ended more "
        "than DAYS ago, keeping the N newest runs whatever their age; directories under the "
        "runs directory that no record names go too once older than DAYS. A running run's "
        "directory is never removed; the records stay in state.db. DAYS defaults to the "
        "runs_retention_days setting, which, when set, also makes claude-pm prune on its own "
        "at most once a day.",
    )
    prune.add_argument(
        "--older-than", type=float, default=None, metavar="DAYS", help="ended more than DAYS ago"
    )
    prune.add_argument("--keep", type=int, default=None, metavar="N", help="keep the N newest")
    prune.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    prune.add_argument("--json", action="store_true", help="print JSON")
    prune.set_defaults(func=prune_command)


def _store(settings: Settings) -> RunStore | None:
    """The run store, after reclaiming what dead orchestrators left (reported on stderr)."""
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database

    if not settings.db_path.exists():
        error(f"no runs recorded yet in {settings.db_path}")
        return None
    store = RunStore(Database(settings.db_path), reclaim=False)
    for reclaimed in store.reclaim():
        sys.stderr.write(f"claude-pm: {reclaimed.message()}\n")
    return store


def _as_dict(run: RunRecord) -> dict[str, Any]:
    data = asdict(run)
    data["status"] = run.status.value
    data["usage"] = dict(run.usage)
    data["peak_rss_mb"] = round(run.peak_rss_mb, 2) if run.peak_rss_mb is not None else None
    return data


@with_settings
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    if store is None:
        return EXIT_BAD_INPUT
    agent = args.agent.replace("-", "_").lower() if args.agent else None
    status = RunStatus(args.status) if args.status else None
    runs = store.find(args.limit, agent_type=agent, status=status)
    if args.json:
        print_json([_as_dict(r) for r in runs])
        return 0
    from rich.console import Console
    from rich.table import Table

    # The run id starts with its UTC start time, so no separate column for it.
    table = Table(title=f"{len(runs)} run(s)", title_justify="left", box=None)
    for column in ("run", "agent", "status", "time", "peak MB"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        shown = run.status.value
        if run.exit_code not in (None, 0):
            shown += f" ({run.exit_code})"
        elif run.signal is not None:
            shown += f" (signal {run.signal})"
        table.add_row(
            run.run_id,
            run.agent_type,
            shown,
            f"{run.wall_time_s:.2f}s" if run.wall_time_s is not None else "",
            f"{run.peak_rss_bytes / (1024 * 1024):.1f}" if run.peak_rss_bytes else "",
        )
    Console().print(table)
    return 0


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    if store is None:
        return EXIT_BAD_INPUT
    run = store.get(args.run_id)
    if run is None:
        recent = ", ".join(r.run_id for r in store.find(5)) or "none"
        error(f"no run {args.run_id!r}; recent runs: {recent} (see `claude-pm runs`)")
        return 1
    data = _as_dict(run)
    if args.json:
        print_json(data)
        return 0
    from rich.console import Console

    console = Console(highlight=False)
    for key, value in data.items():
        if value is not None and key not in ("task", "orchestrator", "tree"):
            console.print(f"{key}: {value}", markup=False, soft_wrap=True)
    console.rule("task")
    console.print(run.task, markup=False, soft_wrap=True)
    if run.stdout_path and Path(run.stdout_path).exists():
        console.rule("end of stdout")
        console.print(_tail(Path(run.stdout_path)), markup=False, soft_wrap=True)
    elif run.run_dir and not Path(run.run_dir).exists():
        console.print(f"(the run directory {run.run_dir} was pruned)", markup=False)
    return 0


@with_settings
def prune_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.agents.retention import prune_runs

    store = _store(settings)
    if store is None:
        return EXIT_BAD_INPUT
    days = args.older_than if args.older_than is not None else settings.runs_retention_days
    report = prune_runs(
        store,
        older_than_days=days,
        keep=args.keep,
        dry_run=args.dry_run,
        runs_dir=settings.runs_dir,
    )
    if args.json:
        print_json(
            {
                "dry_run": report.dry_run,
                "removed": [asdict(r) for r in report.removed],
                "failed": [asdict(r) for r in report.failed],
                "freed_bytes": report.freed_bytes,
                "kept_newest": report.kept_newest,
                "running_left_alone": report.running,
            }
        )
    else:
        sys.stdout.write(report.message() + "\n")
        if args.dry_run:
            for pruned in report.removed:
                sys.stdout.write(f"  {pruned.path}\n")
    return 1 if report.failed else 0


def _tail(path: Path, max_bytes: int = 4096) -> str:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        return f.read().decode("utf-8", errors="replace").rstrip("\n")
