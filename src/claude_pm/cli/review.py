"""``claude-pm review``: the core agents review a project at once, as one workflow.

The review is the workflow of :func:`claude_pm.workflow.recipes.review_workflow`
run by the workflow engine (journaled, bounded concurrency, each agent a
supervised process tree); its tickets are stored like any run's. The summary
has a row per agent (status, time, peak memory, tickets by priority, why it
failed) and says where the full reports are. ``--format sarif`` writes the
tickets this review saw as SARIF 2.1.0.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    with_settings,
)
from claude_pm.cli.output import quiet

if TYPE_CHECKING:
    from claude_pm.agents.registry import AgentRegistry
    from claude_pm.config import Settings
    from claude_pm.tickets.model import StoredTicket
    from claude_pm.workflow.outcome import TaskOutcome, WorkflowResult

#: Priorities from the lowest; ``--fail-on P`` fails on P and everything after it.
PRIORITIES: tuple[str, ...] = ("low", "medium", "high")
FORMATS: tuple[str, ...] = ("table", "json", "sarif")

_DESCRIPTION = """\
Run the core agents on the project at PATH (default: --project, else the current
directory) as one workflow: in parallel (at most --max-concurrency at once, default
the number of CPUs), each a supervised process tree with its timeout and memory
limit. The tickets they report are stored in PATH/.claude-pm/state.db, deduplicated
against those already on file. The summary has a row per agent (status, time, peak
memory, tickets by priority, why it failed) and where the full reports are.

A review runs the project's own code: its tests, its build files. On a repository
you did not write, that is running a stranger's code: claude-pm runs each agent in
a sandbox where the machine has one (bubblewrap; see `claude-pm doctor`; the
summary says which ran), and it uses the shipped core agents even when the
repository's .claude/agents/ redefines them, unless --project-agents is given
(the summary then lists every definition that overrode a shipped one).

Exit status: 0 when every agent completed, findings or not; 1 when an agent failed
or timed out (its row says why), or with --fail-on PRIORITY when this review saw a
finding at or above PRIORITY, new or already filed; 2 on bad input; 130 when
interrupted (the workflow is cancelled, its agents' trees killed).
"""

_EPILOG = """\
examples:
  claude-pm review                                  review the current project
  claude-pm review path/to/repo --agents qa,security
  claude-pm review --format sarif --output review.sarif --fail-on high
  claude-pm review --backend claude-code --budget-usd 2
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "review",
        help="review a project with the core agents at once and file their findings",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "path", nargs="?", type=Path, default=None, help="the project (default: --project or .)"
    )
    parser.add_argument(
        "--agents",
        default=None,
        help="comma-separated agent types (default: qa,security,documentation,engineer,"
        "ops,data-engineer)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="backend of the agents (default: the backend setting, builtin: offline, "
        "the field's own tools)",
    )
    parser.add_argument(
        "--budget-usd",
        dest="workflow_budget_usd",
        type=float,
        default=None,
        help="dollar cap of the whole review on paid backends "
        "(default: $CLAUDE_PM_WORKFLOW_BUDGET_USD)",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help="agents running at once (default: the number of CPUs)",
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=FORMATS,
        default=None,
        help="what to print (default table)",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the --format document (json or sarif) to this file and print the "
        "table on standard output",
    )
    parser.add_argument(
        "--fail-on",
        choices=PRIORITIES,
        default=None,
        help="exit 1 when this review saw a finding of this priority or higher (a CI gate)",
    )
    parser.add_argument(
        "--project-agents",
        action="store_true",
        help="let the project's .claude/agents/ redefine the core agents",
    )
    parser.set_defaults(func=review_command)


def review_command(args: argparse.Namespace) -> int:
    if args.path is not None:
        args.project = args.path
    return _review(args)


@dataclass
class AgentRow:
    """One agent of the review, as the summary shows it."""

    task: TaskOutcome
    tickets: list[StoredTicket] = field(default_factory=list)

    @property
    def wall_s(self) -> float | None:
        if self.task.result is not None:
            return self.task.result.process.wall_time_s
        return self.task.record.wall_time_s if self.task.record is not None else None

    @property
    def peak_bytes(self) -> int | None:
        if self.task.result is not None:
            return self.task.result.process.peak_rss_bytes
        return self.task.record.peak_rss_bytes if self.task.record is not None else None

    def count(self, priority: str) -> int:
        return _count(self.tickets, priority)

    @property
    def created(self) -> int:
        """Tickets new to the store from this agent's run."""
        return self.task.result.tickets.created_count if self.task.result is not None else 0

    @property
    def why(self) -> str:
        """Why the agent did not complete (empty when it did)."""
        if self.task.status.value == "completed":
            return ""
        if self.task.result is not None and not self.task.result.success:
            return self.task.result.summary()
        return self.task.reason or self.task.status.value

    def to_dict(self) -> dict[str, Any]:
        result = self.task.result
        summary = result.tickets if result is not None else None
        return {
            "agent": self.task.agent_type,
            "task_id": self.task.task_id,
            "status": self.task.status.value,
            "run_id": self.task.run_id,
            "wall_time_s": self.wall_s,
            "peak_rss_bytes": self.peak_bytes,
            "sandbox": result.process.sandbox.value if result is not None else None,
            "backend": result.backend if result is not None else None,
            "tickets": {p: self.count(p) for p in reversed(PRIORITIES)},
            "tickets_created_count": self.created,
            "duplicate_tickets_count": summary.filed_count if summary is not None else 0,
            "reason": self.why or None,
            "report": str(result.process.stdout_path) if result is not None else None,
        }


@dataclass(frozen=True)
class Review:
    """A finished review: what the summary, the JSON document and the gate are made from."""

    settings: Settings
    result: WorkflowResult
    rows: list[AgentRow]
    seen: list[StoredTicket]
    overrides: list[dict[str, str]]
    fail_on: str | None
    gate: bool


@with_settings
def _review(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm.errors import InvalidInput, WorkflowInvalid
    from claude_pm.state import Database
    from claude_pm.workflow.engine import WorkflowEngine
    from claude_pm.workflow.recipes import REVIEW_AGENTS, review_workflow

    fmt = "json" if args.json else (args.output_format or "table")
    if args.output is not None and fmt == "table":
        raise CommandFailed(
            "--output writes the --format document: add --format json or --format sarif",
            EXIT_BAD_INPUT,
        )
    if args.max_concurrency is not None and args.max_concurrency < 1:
        raise CommandFailed(
            f"--max-concurrency must be at least 1, not {args.max_concurrency}", EXIT_BAD_INPUT
        )
    if not settings.project_root.is_dir():
        raise CommandFailed(
            f"no project directory at {settings.project_root}: name an existing directory",
            EXIT_BAD_INPUT,
        )
    agents = REVIEW_AGENTS
    if args.agents is not None:
        agents = tuple(a.strip() for a in args.agents.split(",") if a.strip())
        if not agents:
            raise CommandFailed(
                "--agents names no agent: give a comma-separated list such as qa,security",
                EXIT_BAD_INPUT,
            )
    registry = _registry(settings, project_agents=args.project_agents)
    data = review_workflow(agents, max_concurrency=args.max_concurrency)
    engine = WorkflowEngine(settings, registry, Database(settings.db_path))
    try:
        checked = engine.check(data)
    except (WorkflowInvalid, InvalidInput) as e:
        engine.close()
        problems = [p for p in getattr(e, "problems", None) or [] if p != e.message]
        raise CommandFailed(
            e.message, EXIT_BAD_INPUT, problems=problems, type_name=type(e).__name__
        ) from e
    from claude_pm.cli.workflow import run_with_view

    tasks = [(t.id, t.agent_type) for t in checked.spec.tasks]
    try:
        result = run_with_view(
            engine, tasks, lambda on: engine.run(data, on_event=on), quiet=quiet(args)
        )
    finally:
        engine.close()
    rows = _rows(settings, result)
    overrides = _overrides(registry, [t.agent_type for t in checked.spec.tasks])
    seen = _distinct(t for row in rows for t in row.tickets)
    gate = args.fail_on is not None and any(
        PRIORITIES.index(t.priority.value) >= PRIORITIES.index(args.fail_on) for t in seen
    )
    code = EXIT_OK if result.completed and not gate else EXIT_FAILED
    review = Review(settings, result, rows, seen, overrides, args.fail_on, gate)
    document = _document(review, code)
    if fmt == "table" or args.output is not None:
        _print_summary(review)
    if fmt != "table":
        text = _render(fmt, settings, document, seen)
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
            sys.stderr.write(f"wrote the review ({fmt}) to {args.output}\n")
    return code


def _registry(settings: Settings, *, project_agents: bool) -> AgentRegistry:
    from claude_pm.agents.registry import AgentRegistry

    if project_agents:
        return AgentRegistry.from_settings(settings)
    # The project's own definitions are left out: a cloned repository cannot swap the
    # reviewers. The user's own tier stays (their machine, their agents).
    return AgentRegistry(None, settings.user_agents_dir)


def _overrides(registry: AgentRegistry, agent_types: list[str]) -> list[dict[str, str]]:
    from claude_pm.agents.definition import Tier

    out = []
    for agent_type in agent_types:
        definition = registry.get(agent_type)
        if definition.tier is not Tier.SHIPPED:
            out.append(
                {
                    "agent": definition.agent_type,
                    "tier": definition.tier.value,
                    "path": str(definition.source_path or ""),
                }
            )
    return out


def _rows(settings: Settings, result: WorkflowResult) -> list[AgentRow]:
    from claude_pm.state import Database
    from claude_pm.tickets.store import TicketStore

    store = TicketStore(Database(settings.db_path))
    rows = []
    for task in result.tasks:
        row = AgentRow(task)
        if task.run_id is not None:
            row.tickets = store.find(run=task.run_id)
        rows.append(row)
    return rows


def _distinct(tickets: Any) -> list[StoredTicket]:
    by_id: dict[int, StoredTicket] = {}
    for ticket in tickets:
        by_id.setdefault(ticket.seq, ticket)
    return [by_id[k] for k in sorted(by_id)]


def _document(review: Review, code: int) -> dict[str, Any]:
    settings, result, rows, seen = review.settings, review.result, review.rows, review.seen
    listed = seen[: settings.max_tickets_listed]
    return {
        "workflow_id": result.workflow_id,
        "project": str(settings.project_root),
        "status": result.status.value,
        "completed": result.completed,
        "wall_time_s": result.makespan_s,
        "cost_usd": result.cost_usd,
        "agents": [row.to_dict() for row in rows],
        "tickets_count": len(seen),
        "tickets_by_priority": {p: _count(seen, p) for p in reversed(PRIORITIES)},
        "tickets_created_count": sum(r.created for r in rows),
        "tickets": [
            {
                "id": t.id,
                "priority": t.priority.value,
                "type": t.type.value,
                "title": t.title,
                "file": t.file,
                "line": t.line,
                "source_agent": t.source_agent,
            }
            for t in listed
        ],
        "tickets_read_more": ("claude-pm tickets list --json" if len(seen) > len(listed) else None),
        "overrides": review.overrides,
        "fail_on": review.fail_on,
        "gate_failed": review.gate,
        "exit_code": code,
    }


def _count(tickets: list[StoredTicket], priority: str) -> int:
    return sum(1 for t in tickets if t.priority.value == priority)


def _render(
    fmt: str, settings: Settings, document: dict[str, Any], seen: list[StoredTicket]
) -> str:
    if fmt == "sarif":
        from claude_pm.tickets.export import to_sarif

        return to_sarif(seen, project_root=settings.project_root)
    import json

    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _human_bytes(n: int | None) -> str:
    if not n:
        return ""
    return f"{n / (1024 * 1024):.0f} MiB"


def _print_summary(review: Review) -> None:
    settings, result, rows, seen = review.settings, review.result, review.rows, review.seen
    overrides, fail_on, gate = review.overrides, review.fail_on, review.gate
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console(highlight=False, soft_wrap=True)
    done = sum(1 for r in rows if r.task.status.value == "completed")
    colour = "green" if result.completed else "red"
    cost = f", cost ${result.cost_usd:.4f}" if result.cost_usd is not None else ""
    out.print(
        f"[bold {colour}]review {result.status.value}[/]: {done}/{len(rows)} agent(s) "
        f"completed in {result.makespan_s:.1f}s{cost} ({escape(str(settings.project_root))})"
    )
    table = Table(box=None, show_edge=False)
    for column in ("agent", "status", "time", "peak", "high", "medium", "low", "notes"):
        justify = "right" if column in ("time", "peak", "high", "medium", "low") else "left"
        table.add_column(column, justify=justify, no_wrap=column != "notes")  # type: ignore[arg-type]
    for row in rows:
        wall = row.wall_s
        status = row.task.status.value
        table.add_row(
            escape(row.task.agent_type),
            f"[{'green' if status == 'completed' else 'red'}]{status}[/]",
            f"{wall:.1f}s" if wall is not None else "",
            _human_bytes(row.peak_bytes),
            str(row.count("high")),
            str(row.count("medium")),
            str(row.count("low")),
            escape(row.why[:300]),
        )
    out.print(table)
    new = sum(r.created for r in rows)
    by = ", ".join(f"{_count(seen, p)} {p}" for p in reversed(PRIORITIES))
    out.print(
        f"tickets: {len(seen)} ({by}); {new} new, {len(seen) - new} already filed"
        " — claude-pm tickets list",
        markup=False,
    )
    sandboxes = sorted(
        {r.task.result.process.sandbox.value for r in rows if r.task.result is not None}
    )
    if sandboxes:
        out.print(f"sandbox: {', '.join(sandboxes)}", markup=False)
    for item in overrides:
        out.print(
            f"override: {item['agent']} is the {item['tier']} definition {item['path']}",
            markup=False,
        )
    runs_dir = settings.runs_dir
    out.print(
        f"full reports: {runs_dir}/RUN_ID/ (claude-pm runs show RUN_ID); "
        f"workflow: claude-pm workflow status {result.workflow_id}",
        markup=False,
    )
    if fail_on is not None:
        verdict = "failed" if gate else "passed"
        out.print(f"gate --fail-on {fail_on}: {verdict}", markup=False)
