"""``claude-pm doctor``: what this machine and project offer claude-pm, checked for real."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_pm.cli.guard import with_settings
from claude_pm.cli.output import add_json_flag, print_json, wants_json

if TYPE_CHECKING:
    from claude_pm.config import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check what this machine and project offer (memory enforcement, sandbox, agents)",
        description="Run a tiny supervised process with a memory limit and report which "
        "enforcement the kernel gave it (cgroup v2, cgroup v1, rlimit or sampling) and "
        "which sandbox held it (bwrap or none, and why none), then "
        "say which kernel groups runs get (cgroup v2 or v1 controllers, the task limit) and "
        "whether runs of dead orchestrators wait to be reclaimed, then "
        "check the project's agents, the state database, and the optional integrations "
        "(MCP and Anthropic SDKs, an API key, a Claude Code CLI), and clean up after killed "
        "workflow orchestrators (their agents' leftover processes and worktrees). Exits 1 "
        "when an agent "
        "definition fails validation, a supervised run does not complete, or the sandbox "
        "setting says required and the machine has none.",
        epilog="examples:\n  claude-pm doctor\n"
        "  claude-pm doctor --json | jq .supervision.enforcement\n"
        "  claude-pm doctor --project ~/src/shop",
    )
    add_json_flag(parser)
    parser.set_defaults(func=doctor_command)


def _supervision(settings: Settings) -> dict[str, Any]:
    from claude_pm.config import SandboxMode
    from claude_pm.process import (
        MemoryLimits,
        ProcessSpec,
        SandboxSpec,
        run_process,
        sandbox_support,
    )

    support = sandbox_support()
    with tempfile.TemporaryDirectory(prefix="claude-pm-doctor-") as tmp:
        sandbox = None
        if settings.sandbox is not SandboxMode.OFF:
            sandbox = SandboxSpec(writable=(Path(tmp),), required=False)
        spec = ProcessSpec(
            argv=[sys.executable, "-c", "x = bytearray(8 * 1024 * 1024)"],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            cwd=Path(tmp),
            run_dir=Path(tmp),
            timeout_s=30,
            memory=MemoryLimits(hard_limit_mb=128),
            sandbox=sandbox,
        )
        result = run_process(spec)
    return {
        "status": result.status.value,
        "enforcement": result.enforcement.value,
        "sandbox": result.sandbox.value,
        "sandbox_setting": settings.sandbox.value,
        "sandbox_available": support.available,
        "sandbox_unavailable_reason": support.reason,
        "wall_time_ms": round(result.wall_time_s * 1000, 1),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "peak_sources_bytes": dict(result.peak_rss_sources),
        "events": [e.to_dict() for e in result.events],
    }


#: What the tests prove about the cgroup v2 set-up (this project's CI machines have no v2).
V2_VERIFIED = (
    "the v2 set-up (moving the orchestrator into a leaf, enabling memory and pids for run "
    "groups) is verified only against a simulated cgroupfs in claude-pm's tests"
)


def _cgroups() -> dict[str, Any]:
    from claude_pm.process.cgroups import cgroup_support
    from claude_pm.process.types import DEFAULT_PIDS_LIMIT

    support = cgroup_support()
    return {
        "v2_used": support.v2_dir is not None,
        "v2_dir": str(support.v2_dir) if support.v2_dir else None,
        "v2_controllers": sorted(support.v2_controllers),
        "v2_note": support.v2_note,
        "v2_verified": V2_VERIFIED,
        "v1_controllers": sorted(support.v1_dirs),
        "pids_limit": DEFAULT_PIDS_LIMIT if support.pids_limit_possible else None,
    }


def _reclaim(settings: Settings) -> dict[str, Any]:
    """Runs of dead orchestrators waiting to be reclaimed; nothing is touched here."""
    from claude_pm.agents.runs import RunStore
    from claude_pm.errors import StoreError
    from claude_pm.state import Database

    if not settings.db_path.exists():
        return {"runs": [], "error": None}
    try:
        waiting = RunStore(Database(settings.db_path), reclaim=False).reclaimable()
    except StoreError as e:
        return {"runs": [], "error": e.message}
    return {"runs": [r.run_id for r in waiting], "error": None}


def _package(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _claude_code_cli() -> str | None:
    found = shutil.which("claude")
    if found:
        return found
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "_bundled" / "claude"
        if bundled.exists():
            return str(bundled)
    return None


def _project(settings: Settings) -> dict[str, Any]:
    from claude_pm.agents.registry import AgentRegistry

    registry = AgentRegistry.from_settings(settings)
    agents = registry.agents()
    return {
        "project_root": str(settings.project_root),
        "state_db": str(settings.db_path),
        "state_db_exists": settings.db_path.exists(),
        "memory_enforcement_setting": settings.memory_enforcement,
        "agents": len(agents),
        "default_backend": settings.default_backend,
        "runnable_agents": sorted(
            a.agent_type for a in agents if a.unavailable_reason(settings.default_backend) is None
        ),
        "agent_problems": [p.to_dict() for p in registry.problems()],
        "user_agents_dir": str(settings.user_agents_dir),
    }


def _reclaimed(settings: Settings) -> list[dict[str, Any]]:
    """Take back what killed workflow orchestrators left (see claude_pm.workflow.reclaim)."""
    if not settings.db_path.exists():
        return []
    from claude_pm.agents.runs import RunStore
    from claude_pm.state import Database
    from claude_pm.workflow.journal import WorkflowJournal
    from claude_pm.workflow.reclaim import reclaim_dead_workflows

    database = Database(settings.db_path)
    with WorkflowJournal(database) as journal:
        runs = RunStore(database, reclaim=False)  # other runs are only reported (below)
        return [r.to_dict() for r in reclaim_dead_workflows(journal, runs)]


@with_settings
def doctor_command(args: argparse.Namespace, settings: Settings) -> int:
    from claude_pm._version import __version__

    project = _project(settings)
    project["workflows_reclaimed"] = _reclaimed(settings)
    report: dict[str, Any] = {
        "claude_pm": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "supervision": _supervision(settings),
        "cgroups": _cgroups(),
        "reclaim": _reclaim(settings),
        "project": project,
        "integrations": {
            "mcp_sdk": _package("mcp"),
            "anthropic_sdk": _package("anthropic"),
            "openai_sdk": _package("openai"),
            "anthropic_api_key_set": bool(os.environ.get("ANTHROPIC_API_KEY")),
            "claude_code_cli": _claude_code_cli(),
        },
    }
    sandbox_missing = (
        settings.sandbox.value == "required" and not report["supervision"]["sandbox_available"]
    )
    ok = (
        report["supervision"]["status"] == "completed"
        and not project["agent_problems"]
        and not sandbox_missing
    )
    if wants_json(args):
        print_json(report)
        return 0 if ok else 1
    _print(report)
    return 0 if ok else 1


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    out = Console(highlight=False, soft_wrap=True)
    sup, proj, integ = report["supervision"], report["project"], report["integrations"]
    out.print(f"claude-pm {report['claude_pm']} on Python {report['python']}")
    out.print(f"{report['platform']}, {report['cpus']} CPUs")
    out.print(
        f"supervision: test run {sup['status']} in {sup['wall_time_ms']} ms, memory limit "
        f"enforced by [bold]{sup['enforcement']}[/], peak {sup['peak_rss_mb']} MB"
    )
    why = "" if sup["sandbox_available"] else f" ({sup['sandbox_unavailable_reason']})"
    out.print(
        f"sandbox: test run in [bold]{sup['sandbox']}[/] (setting {sup['sandbox_setting']})"
        + escape(why)
    )
    groups = report["cgroups"]
    limit = f", task limit {groups['pids_limit']} per run" if groups["pids_limit"] else ""
    if groups["v2_used"]:
        out.print(
            f"cgroups: v2 at {groups['v2_dir']} ({' '.join(groups['v2_controllers'])}{limit}): "
            f"{groups['v2_note']}; {groups['v2_verified']}",
            markup=False,
        )
    else:
        v1 = " ".join(groups["v1_controllers"]) or "none writable"
        out.print(f"cgroups: v1 {v1}{limit}", markup=False)
        out.print(
            f"cgroup v2: not used ({groups['v2_note']}); {groups['v2_verified']}", markup=False
        )
    waiting = report["reclaim"]
    if waiting["error"]:
        out.print(f"reclaim: cannot tell: {waiting['error']}", markup=False)
    elif waiting["runs"]:
        out.print(
            f"reclaim: {len(waiting['runs'])} runs of dead orchestrators are still marked "
            "running; `claude-pm runs` kills what they left and marks them abandoned",
            markup=False,
        )
    else:
        out.print("reclaim: no run of a dead orchestrator is left", markup=False)
    out.print(f"project: {proj['project_root']}", markup=False)
    out.print(
        f"  state: {proj['state_db']}" + ("" if proj["state_db_exists"] else " (not created yet)"),
        markup=False,
    )
    runnable = ", ".join(proj["runnable_agents"]) or "none (define one with backend: command)"
    out.print(f"  agents: {proj['agents']} loaded; runnable now: {runnable}", markup=False)
    for reclaimed in proj["workflows_reclaimed"]:
        out.print(
            f"  workflow {reclaimed['workflow_id']}: its orchestrator was dead; killed "
            f"{reclaimed['processes_killed']} leftover process(es), removed "
            f"{reclaimed['worktrees_removed']} worktree(s) (`claude-pm workflow resume` goes on)",
            markup=False,
        )
    for problem in proj["agent_problems"]:
        where_what = f"{problem.get('path')}: {problem.get('message')}"
        out.print(f"  [red]problem[/]: {escape(where_what)}")
    key = "set" if integ["anthropic_api_key_set"] else "not set (needed by `claude-pm pm`)"
    out.print(
        f"integrations: mcp {integ['mcp_sdk'] or 'missing'}, anthropic "
        f"{integ['anthropic_sdk'] or 'missing'}, ANTHROPIC_API_KEY {key}, Claude Code CLI "
        f"{integ['claude_code_cli'] or 'not found'}",
        markup=False,
    )
