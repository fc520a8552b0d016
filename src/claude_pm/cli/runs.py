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
from claude_pm.cli.guard import EXIT_FAILED, EXIT_OK, CommandFailed, with_settings
from claude_pm.cli.output import (
    Format,
    add_format_flags,
    add_json_flag,
    console,
    describe_exit,
    human_duration,
    local_time,
    megabytes,
    note,
    output_format,
    print_json,
    print_rows,
    wants_json,
    write_tsv,
)

if TYPE_CHECKING:
    from claude_pm.agents.runs import RunRecord, RunStore
    from claude_pm.config import Settings


LIST_COLUMNS = "run id, agent, status, how it ended, wall time s, peak MB"


def _list_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--agent", default=default, help="only runs of this agent type")
    parser.add_argument(
        "--status", choices=[s.value for s in RunStatus], default=default, help="only runs with it"
    )
    parser.add_argument(
        "--limit", type=int, default=20 if default is None else default, help="at most this many "
        "(default 20)",
    )  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="list and show recorded agent runs",
        description="Agent runs recorded in PROJECT/.claude-pm/state.db, newest first "
        "(`claude-pm runs` alone is `claude-pm runs list`). A run "
        "left 'running' by an orchestrator that no longer exists (killed with SIGKILL, or the "
        "machine rebooted) is reclaimed first: the processes its agent left are killed (never "
        "those of a live orchestrator, MCP server or worker) and the run is marked "
        "'abandoned'; each is reported on stderr.",
        epilog=EXAMPLES,
    )
    _list_flags(parser, None)
    add_format_flags(parser, LIST_COLUMNS)
    parser.set_defaults(func=list_command)
    commands = parser.add_subparsers(dest="runs_command", metavar="ACTION")
    listing = commands.add_parser(
        "list",
        help="the recorded runs, newest first",
        description="The recorded runs, newest first, filtered. An empty project lists none.",
        epilog=EXAMPLES,
    )
    # SUPPRESS: a flag given before `list` (`runs --limit 5 list`) is kept.
    _list_flags(listing, argparse.SUPPRESS)
    add_format_flags(listing, LIST_COLUMNS)
    listing.set_defaults(func=list_command)
    show = commands.add_parser(
        "show",
        help="one run: outcome, measurements, log paths",
        description="One run: how it ended (exit code, or the signal that killed it), its "
        "times and peak memory, cost and usage on an LLM backend, its task, log paths and "
        "the end of its output. Exits 1 for an unknown run.",
        epilog="examples:\n  claude-pm runs show 20261125T201140Z-a2240019\n"
        "  claude-pm runs show 20261125T201140Z-a2240019 --json | jq .peak_rss_mb\n"
        '  claude-pm runs show "$(claude-pm runs list --limit 1 | cut -f1)"',
    )
    show.add_argument("run_id", help="the run id, e.g. 20261125T201140Z-a2240019")
    add_json_flag(show)
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
        epilog="examples:\n  claude-pm runs prune --older-than 30\n"
        "  claude-pm runs prune --older-than 7 --keep 50\n"
        "  claude-pm runs prune --keep 20 --dry-run",
    )
    prune.add_argument(
        "--older-than", type=float, default=None, metavar="DAYS", help="ended more than DAYS ago"
    )
    prune.add_argument("--keep", type=int, default=None, metavar="N", help="keep the N newest")
    prune.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    add_json_flag(prune)
    prune.set_defaults(func=prune_command)


EXAMPLES = """\
examples:
  claude-pm runs list
  claude-pm runs list --agent qa --status failed --limit 5
  claude-pm runs list --json | jq '.[0].run_id'
"""


def _store(settings: Settings, *, needed: bool = True) -> RunStore | None:
    """The run store, after reclaiming what dead orchestrators left (reported on stderr).

    None when nothing was recorded yet; with ``needed`` that is an error (exit 1).
    """
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database

    if not settings.db_path.exists():
        if needed:
            raise CommandFailed(f"no runs recorded yet in {settings.db_path}")
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
    data["ended"] = describe_exit(run.exit_code, run.signal) or None
    return data


@with_settings
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings, needed=False)
    fmt = output_format(args)
    agent = args.agent.replace("-", "_").lower() if args.agent else None
    status = RunStatus(args.status) if args.status else None
    if store is None:
        note(args, f"no runs recorded yet in {settings.db_path}")
        runs: list[RunRecord] = []
    else:
        runs = store.find(args.limit, agent_type=agent, status=status)
    if fmt is Format.JSON:
        print_json([_as_dict(r) for r in runs])
        return EXIT_OK
    if fmt is Format.TSV:
        write_tsv(
            (
                r.run_id,
                r.agent_type,
                r.status.value,
                describe_exit(r.exit_code, r.signal),
                f"{r.wall_time_s:.2f}" if r.wall_time_s is not None else "",
                f"{r.peak_rss_mb:.1f}" if r.peak_rss_mb is not None else "",
            )
            for r in runs
        )
        return EXIT_OK
    # The run id starts with its UTC start time, so no separate column for it.
    rows = []
    for run in runs:
        shown = run.status.value
        ended = describe_exit(run.exit_code, run.signal)
        if ended and ended != "exit 0":
            shown += f" ({ended})"
        rows.append(
            (
                run.run_id,
                run.agent_type,
                shown,
                human_duration(run.wall_time_s),
                megabytes(run.peak_rss_bytes),
            )
        )
    print_rows(("run", "agent", "status", "time", "peak"), rows, fmt, title=f"{len(rows)} run(s)")
    return EXIT_OK


def _unknown_run(run_id: str, store: RunStore | None) -> CommandFailed:
    recent = ", ".join(r.run_id for r in store.find(5)) if store is not None else ""
    return CommandFailed(
        f"no run {run_id!r}; recent runs: {recent or 'none'} (see `claude-pm runs list`)"
    )


def _show_lines(run: RunRecord) -> list[tuple[str, str]]:
    """``runs show`` for people: the outcome first, in human units."""
    status = run.status.value
    ended = describe_exit(run.exit_code, run.signal)
    lines = [
        ("run", run.run_id),
        ("agent", run.agent_type),
        ("status", f"{status}, {ended}" if ended else status),
        ("started", local_time(run.started_at)),
        ("finished", local_time(run.finished_at)),
        ("time", human_duration(run.wall_time_s)),
        ("cpu time", human_duration(run.cpu_time_s)),
        ("peak memory", megabytes(run.peak_rss_bytes)),
        ("memory enforced by", run.enforcement or ""),
        ("backend", run.backend or ""),
        ("model", run.model or ""),
        ("cost", f"${run.cost_usd:.4f}" if run.cost_usd is not None else ""),
        ("usage", ", ".join(f"{k} {v}" for k, v in run.usage.items())),
        ("stop reason", run.stop_reason or ""),
        ("session", run.backend_session_id or run.session_id or ""),
        ("error", run.error or ""),
        ("run dir", run.run_dir or ""),
        ("stdout", run.stdout_path or ""),
        ("stderr", run.stderr_path or ""),
    ]
    return [(key, value) for key, value in lines if value]


@with_settings
def show_command(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings, needed=False)
    run = store.get(args.run_id) if store is not None else None
    if run is None:
        raise _unknown_run(args.run_id, store)
    if wants_json(args):
        print_json(_as_dict(run))
        return EXIT_OK
    out = console()
    for key, value in _show_lines(run):
        out.print(f"{key}: {value}", markup=False)
    out.rule("task")
    out.print(run.task, markup=False)
    if run.stdout_path and Path(run.stdout_path).exists():
        out.rule("end of stdout")
        out.print(_tail(Path(run.stdout_path)), markup=False)
    elif run.run_dir and not Path(run.run_dir).exists():
        out.print(f"(the run directory {run.run_dir} was pruned)", markup=False)
    return EXIT_OK


@with_settings
def prune_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.agents.retention import prune_runs

    store = _store(settings)
    assert store is not None
    days = args.older_than if args.older_than is not None else settings.runs_retention_days
    report = prune_runs(
        store,
        older_than_days=days,
        keep=args.keep,
        dry_run=args.dry_run,
        runs_dir=settings.runs_dir,
    )
    if wants_json(args):
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
    return EXIT_FAILED if report.failed else EXIT_OK


def _tail(path: Path, max_bytes: int = 4096) -> str:
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        return f.read().decode("utf-8", errors="replace").rstrip("\n")
