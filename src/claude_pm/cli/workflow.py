"""``claude-pm workflow``: run workflow files, check them, watch, resume and cancel workflows.

A workflow file is YAML holding the ``coordinate_multi_agent_workflow`` input
(see :mod:`claude_pm.workflow.files`). Every workflow is journaled in the
project's state database under its id (``wf-...``), which the other commands
take: ``status``, ``resume`` (after its orchestrator died, even by SIGKILL),
``cancel``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandFailed,
    with_settings,
)
from claude_pm.cli.output import (
    Format,
    add_format_flags,
    add_json_flag,
    note,
    output_format,
    print_json,
    print_rows,
    quiet,
    wants_json,
)
from claude_pm.cli.workflow_view import print_result, progress_view

if TYPE_CHECKING:
    from claude_pm.config import Settings
    from claude_pm.workflow.engine import WorkflowEngine
    from claude_pm.workflow.outcome import WorkflowEvent, WorkflowResult

LIST_COLUMNS = "workflow id, status, completed tasks, total tasks, created at, description"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "workflow",
        help="run, check, watch, resume and cancel workflows of agent tasks",
        description="Workflows of agent tasks from YAML files holding the "
        "coordinate_multi_agent_workflow input. Each run is journaled in "
        "PROJECT/.claude-pm/state.db under a workflow id (wf-...) that status, resume and "
        "cancel take. run and resume exit 0 when every task completed, 1 when one did not, "
        "2 on bad input (every problem of the file is listed), 130 when interrupted. A "
        "workflow FILE is read relative to the current directory, whatever --project says.",
        epilog="examples:\n  claude-pm workflow validate review.yaml\n"
        "  claude-pm workflow run review.yaml --project ~/src/shop\n"
        "  claude-pm workflow list --format tsv | cut -f1,2",
    )
    commands = parser.add_subparsers(dest="workflow_command", metavar="ACTION", required=True)

    run = commands.add_parser(
        "run",
        help="run a workflow file",
        description=_RUN_HELP,
        epilog="examples:\n  claude-pm workflow run review.yaml\n"
        "  claude-pm workflow run review.yaml --json -q | jq .workflow_id\n"
        "  claude-pm workflow run review.yaml --executor ray --budget-usd 2",
    )
    run.add_argument("file", type=Path, help="the workflow file (YAML)")
    _run_flags(run)
    run.add_argument(
        "--backend",
        default=None,
        help="backend of agents whose definition pins none (default: the backend setting)",
    )
    run.add_argument(
        "--budget-usd",
        dest="workflow_budget_usd",
        type=float,
        default=None,
        help="dollar cap of the workflow when the file names none "
        "(default: $CLAUDE_PM_WORKFLOW_BUDGET_USD)",
    )
    run.set_defaults(func=run_command)

    validate = commands.add_parser(
        "validate",
        help="check a workflow file and print its plan",
        description="Check a workflow file as a run would (agents, dependencies, cycles, "
        "limits, backends, worktrees) without running anything, and print its plan: the "
        "mode used, the levels (tasks of one level never depend on each other) and the "
        "critical path (estimated from each task's timeout, else its agent's). Exits 0 when "
        "valid, 2 with every problem listed.",
        epilog="examples:\n  claude-pm workflow validate review.yaml\n"
        "  claude-pm workflow validate review.yaml --json | jq .critical_path",
    )
    validate.add_argument("file", type=Path, help="the workflow file (YAML)")
    add_json_flag(validate)
    validate.set_defaults(func=validate_command)

    status = commands.add_parser(
        "status",
        help="one workflow's tasks as the journal has them",
        description="Every task of a workflow (the latest one without RUN_ID): its state, "
        "attempts, run and why it was skipped. A workflow whose orchestrator died shows as "
        "interrupted: `workflow resume` continues it. Exits 1 for an unknown workflow.",
        epilog="examples:\n  claude-pm workflow status\n"
        "  claude-pm workflow status wf-20261125T201140Z-a224 --json",
    )
    status.add_argument("run_id", nargs="?", default=None, help="the workflow id (wf-...)")
    add_json_flag(status)
    status.set_defaults(func=status_command)

    listing = commands.add_parser(
        "list",
        help="recent workflows, newest first",
        description="Recent workflows, newest first; a project without any lists none.",
        epilog="examples:\n  claude-pm workflow list\n"
        "  claude-pm workflow list --limit 5 --json | jq '.[0].workflow_id'\n"
        "  claude-pm workflow list --format tsv | grep interrupted",
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    add_format_flags(listing, LIST_COLUMNS)
    listing.set_defaults(func=list_command)

    resume = commands.add_parser(
        "resume",
        help="continue a workflow whose orchestrator died",
        description="Continue a workflow whose orchestrator is gone (killed, even with "
        "SIGKILL, or the machine rebooted): what its trees left running is killed, its "
        "worktrees removed; completed tasks are not run again, a task that was running runs "
        "again as a fresh attempt (interrupted in the result); an effect that may be half "
        "done (tickets, a branch) is reported as in doubt and never repeated.",
        epilog="examples:\n  claude-pm workflow resume wf-20261125T201140Z-a224\n"
        "  claude-pm workflow resume wf-20261125T201140Z-a224 --json -q",
    )
    resume.add_argument("run_id", help="the workflow id (wf-...)")
    _run_flags(resume)
    resume.set_defaults(func=resume_command)

    cancel = commands.add_parser(
        "cancel",
        help="cancel a running workflow",
        description="Ask the live orchestrator of a workflow (found by its recorded pid and "
        "start time) to cancel it: it stops scheduling, kills its agents' process trees and "
        "records them cancelled. A workflow whose orchestrator is dead is cleaned up and "
        "marked cancelled here. Exits 0 when the workflow is cancelled (or had ended), 1 "
        "when the orchestrator did not confirm within --wait seconds (or the workflow is "
        "unknown).",
        epilog="examples:\n  claude-pm workflow cancel wf-20261125T201140Z-a224\n"
        "  claude-pm workflow cancel wf-20261125T201140Z-a224 --wait 5 --json",
    )
    cancel.add_argument("run_id", help="the workflow id (wf-...)")
    cancel.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the orchestrator (30)"
    )
    add_json_flag(cancel)
    cancel.set_defaults(func=cancel_command)


_RUN_HELP = (
    "Run the workflow in FILE: every problem is reported before anything runs; then the "
    "tasks run as their dependencies, priorities, write sets and max_concurrency allow. In "
    "a terminal a live view shows each task; in a pipe, one line per change. --json prints "
    "one JSON document at the end (its workflow_id is what status, resume and cancel take)."
)


def _run_flags(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser, help="print the result as JSON")
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default=None,
        help="where tasks run (default: the executor setting, local)",
    )
    parser.add_argument(
        "--address", default=None, help="the Ray cluster of --executor ray (default: a local one)"
    )


def _engine(settings: Settings) -> WorkflowEngine:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.state import Database
    from claude_pm.workflow.engine import WorkflowEngine

    return WorkflowEngine(
        settings, AgentRegistry.from_settings(settings), Database(settings.db_path)
    )


def _existing_engine(settings: Settings) -> WorkflowEngine:
    """The engine of a project with workflows recorded.

    Raises:
        CommandFailed: (exit 1) none was recorded, so whatever was named is unknown.
    """
    if not settings.db_path.exists():
        raise CommandFailed(f"no workflow recorded yet in {settings.db_path}")
    return _engine(settings)


def _document(
    settings: Settings, result: WorkflowResult, *, every_task: bool = False
) -> dict[str, Any]:
    from claude_pm.tools.results import workflow_result

    return workflow_result(
        result,
        max_report_bytes=settings.max_report_bytes,
        max_tickets_listed=settings.max_tickets_listed,
        every_task=every_task,
    )


# -- run and resume ---------------------------------------------------------------------


@with_settings
def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.errors import InvalidInput, WorkflowInvalid
    from claude_pm.workflow.files import load_workflow_file

    try:
        data = load_workflow_file(args.file)
        engine = _engine(settings)
        checked = engine.check(data)
    except (WorkflowInvalid, InvalidInput) as e:
        raise _problems(e, EXIT_BAD_INPUT) from e
    tasks = [(t.id, t.agent_type) for t in checked.spec.tasks]
    return _drive(args, settings, engine, tasks, lambda on: engine.run(data, on_event=on))


@with_settings
def resume_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.errors import InvalidInput, WorkflowInvalid

    engine = _existing_engine(settings)
    try:
        tasks = [(t.task_id, t.agent_type) for t in engine.snapshot(args.run_id).tasks]
    except InvalidInput as e:
        raise _problems(e, EXIT_FAILED) from e
    try:
        return _drive(
            args, settings, engine, tasks, lambda on: engine.resume(args.run_id, on_event=on)
        )
    except WorkflowInvalid as e:
        raise _problems(e, EXIT_FAILED) from e


def _drive(
    args: argparse.Namespace,
    settings: Settings,
    engine: WorkflowEngine,
    tasks: list[tuple[str, str]],
    start: Any,
) -> int:
    try:
        result = run_with_view(
            engine, tasks, start, quiet=quiet(args), on_interrupt=lambda r: _show(args, settings, r)
        )
    finally:
        engine.close()
    _show(args, settings, result)
    return EXIT_OK if result.completed else EXIT_FAILED


def run_with_view(
    engine: WorkflowEngine,
    tasks: list[tuple[str, str]],
    start: Any,
    *,
    quiet: bool,
    on_interrupt: Any = None,
) -> WorkflowResult:
    """Run ``start(on_event)`` under the live view (or progress lines) of ``tasks``.

    On Ctrl-C the engine has cancelled the workflow; ``on_interrupt`` is given
    its snapshot (to print it: under ``--json`` the cancelled workflow is then the
    document), then :class:`CommandFailed` exits 130.
    """
    view = progress_view(tasks, quiet=quiet)
    seen: list[str] = []

    def on_event(event: WorkflowEvent) -> None:
        if not seen:
            seen.append(event.workflow_id)
        view.update(event)

    try:
        with view:
            result: WorkflowResult = start(on_event)
    except (KeyboardInterrupt, SystemExit) as e:
        if not seen:
            raise
        code = e.code if isinstance(e, SystemExit) and isinstance(e.code, int) else None
        if on_interrupt is not None:
            on_interrupt(engine.snapshot(seen[0]))
        raise CommandFailed(
            f"workflow {seen[0]} interrupted and cancelled",
            code or EXIT_INTERRUPTED,
            type_name=type(e).__name__,
            printed=on_interrupt is not None,
        ) from e
    return result


def _show(args: argparse.Namespace, settings: Settings, result: WorkflowResult) -> None:
    if wants_json(args):
        print_json(_document(settings, result))
    else:
        print_result(result)


def _problems(e: Any, exit_code: int) -> CommandFailed:
    """A workflow error with every problem it lists, to raise with its exit code."""
    return CommandFailed(
        e.message,
        exit_code,
        problems=[str(p) for p in getattr(e, "problems", None) or []],
        type_name=type(e).__name__,
    )


# -- validate, status, list, cancel -----------------------------------------------------


@with_settings
def validate_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.errors import InvalidInput, WorkflowInvalid
    from claude_pm.workflow.files import load_workflow_file

    try:
        checked = _engine(settings).check(load_workflow_file(args.file))
    except (WorkflowInvalid, InvalidInput) as e:
        raise _problems(e, EXIT_BAD_INPUT) from e
    spec, plan = checked.spec, checked.plan
    if wants_json(args):
        print_json(
            {
                "valid": True,
                "workflow_description": spec.description,
                "total_tasks": len(spec.tasks),
                "coordination_mode": str(spec.coordination_mode),
                "coordination_mode_used": str(plan.coordination_mode_used),
                "mode_note": plan.mode_note,
                "max_concurrency": spec.max_concurrency,
                "levels": [list(level) for level in plan.levels],
                "critical_path": list(plan.critical_path),
                "critical_path_estimate_s": plan.critical_path_s,
                "order": list(plan.order),
                "input_hash": checked.input_hash,
            }
        )
        return EXIT_OK
    out = sys.stdout
    out.write(
        f"valid: {spec.description!r}, {len(spec.tasks)} task(s), mode "
        f"{plan.coordination_mode_used}, max concurrency {spec.max_concurrency}\n"
    )
    if plan.mode_note:
        out.write(f"note: {plan.mode_note}\n")
    for n, level in enumerate(plan.levels):
        out.write(f"level {n}: {', '.join(level)}\n")
    out.write(
        f"critical path: {' -> '.join(plan.critical_path)} "
        f"(estimated {plan.critical_path_s:g}s from timeouts)\n"
    )
    return EXIT_OK


@with_settings
def status_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.errors import InvalidInput

    engine = _existing_engine(settings)
    try:
        run_id = args.run_id
        if run_id is None:
            latest = engine.journal.workflows(1)
            if not latest:
                raise CommandFailed("no workflow recorded yet (see `claude-pm workflow run`)")
            run_id = latest[0].workflow_id
        result = engine.snapshot(run_id)
        events = engine.journal.events(run_id, last=10)
    except InvalidInput as e:
        raise _problems(e, EXIT_FAILED) from e
    finally:
        engine.close()
    if wants_json(args):
        document = _document(settings, result, every_task=True)
        document["last_events"] = events
        print_json(document)
        return EXIT_OK
    print_result(result)
    return EXIT_OK


@with_settings
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.process.identity import identity_alive

    fmt = output_format(args)
    rows: list[dict[str, Any]] = []
    if not settings.db_path.exists():
        note(args, f"no workflow recorded yet in {settings.db_path}")
    else:
        engine = _engine(settings)
        try:
            for w in engine.journal.workflows(args.limit):
                tasks = engine.journal.tasks(w.workflow_id)
                status = w.status.value
                if status == "running" and not identity_alive(w.orchestrator):
                    status = "interrupted"
                rows.append(
                    {
                        "workflow_id": w.workflow_id,
                        "workflow_description": w.description,
                        "status": status,
                        "total_tasks": len(tasks),
                        "completed_tasks": sum(1 for t in tasks if t.status.value == "completed"),
                        "created_at": w.created_at,
                        "resumes": w.resumes,
                    }
                )
        finally:
            engine.close()
    if fmt is Format.JSON:
        print_json(rows)
        return EXIT_OK
    if fmt is Format.TSV:
        print_rows(
            (),
            [
                (
                    r["workflow_id"],
                    r["status"],
                    r["completed_tasks"],
                    r["total_tasks"],
                    r["created_at"],
                    r["workflow_description"],
                )
                for r in rows
            ],
            fmt,
        )
        return EXIT_OK
    print_rows(
        ("workflow", "status", "tasks", "description"),
        [
            (
                r["workflow_id"],
                r["status"],
                f"{r['completed_tasks']}/{r['total_tasks']}",
                r["workflow_description"],
            )
            for r in rows
        ],
        fmt,
        title=f"{len(rows)} workflow(s)",
        wide="description",
    )
    return EXIT_OK


def _cancelled(args: argparse.Namespace, outcome: str, message: str) -> int:
    if wants_json(args):
        print_json({"workflow_id": args.run_id, "outcome": outcome, "message": message})
    else:
        print(f"workflow {args.run_id}: {message}")
    return EXIT_OK


@with_settings
def cancel_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.errors import InvalidInput

    engine = _existing_engine(settings)
    try:
        try:
            outcome = engine.cancel(args.run_id)
        except InvalidInput as e:
            raise _problems(e, EXIT_FAILED) from e
        if outcome == "cancelled":
            return _cancelled(args, outcome, "its orchestrator was gone; cleaned up and cancelled")
        if outcome != "requested":
            return _cancelled(args, outcome, f"had already ended: {outcome}")
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            current = engine.journal.workflow(args.run_id)
            if current is not None and current.status.value != "running":
                return _cancelled(args, current.status.value, current.status.value)
            time.sleep(0.1)
        workflow = engine.journal.workflow(args.run_id)
        who = workflow.orchestrator if workflow is not None else "?"
        raise CommandFailed(
            f"workflow {args.run_id}: cancel requested, but its orchestrator ({who}: boot/pid/"
            f"start) has not confirmed within {args.wait:g}s; it may be busy, or stop it with kill"
        )
    finally:
        engine.close()
