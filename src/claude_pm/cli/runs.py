"""``claude-pm runs``: the agent runs recorded in the project's state database."""

from __future__ import annotations

import argparse
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
        "left 'running' by an orchestrator that no longer exists (killed, or the machine "
        "rebooted) is marked 'abandoned' when you list.",
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


def _store(settings: Settings) -> RunStore | None:
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database

    if not settings.db_path.exists():
        error(f"no runs recorded yet in {settings.db_path}")
        return None
    return RunStore(Database(settings.db_path))


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
    store.mark_abandoned()
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
    store.mark_abandoned()
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
        if value is not None and key not in ("task", "orchestrator"):
            console.print(f"{key}: {value}", markup=False, soft_wrap=True)
    console.rule("task")
    console.print(run.task, markup=False, soft_wrap=True)
    if run.stdout_path and Path(run.stdout_path).exists():
        console.rule("end of stdout")
        console.print(_tail(Path(run.stdout_path)), markup=False, soft_wrap=True)
    return 0


def _tail(path: Path, max_bytes: int = 4096) -> str:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        return f.read().decode("utf-8", errors="replace").rstrip("\n")
