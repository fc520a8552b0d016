"""The offline toolchain behind the ``builtin`` backend: one module per core agent.

Each agent wraps the field's own tools (pytest, coverage, Bandit, Ruff,
detect-secrets, sqlglot, git) or, where no tool exists, a small check of its
own (docstrings with ``ast``, CI and Dockerfile basics, a ranked code search,
ticket triage), and prints a report whose findings are marker lines
(``BUG: path:line: message``) that claude-pm files as tickets.

The life of one run (inside the agent's child process)
    The ``builtin`` backend builds a :class:`ToolchainRequest` from the
    hand-off with :func:`make_request`: ``project_root``, ``task``, the
    filtered ``context``, the ``run_dir``, ``options`` = :func:`merge_options`
    (the definition's ``backend_options`` overlaid with the known option names
    from the agent's config context key, ``CONFIG_KEYS[agent]``) and
    ``python`` (the ``python`` option, else ``sys.executable``). It calls
    :func:`run_agent`,
    which checks the options (:func:`check_options`, the same checker the
    backend runs before spawning), imports the agent's module, and lets it
    write its report to ``out``. The return value is the process exit code:
    0 when the agent did its job, findings or not; otherwise the reason is on
    stderr (see the ``EXIT_*`` codes).

What it leaves behind
    Nothing in the project: caches, coverage data and the files an agent
    writes go to ``run_dir`` (see :mod:`.running`). The two exceptions are
    asked for explicitly: ``engineer`` with ``fix: true`` applies Ruff's safe
    fixes, and ``documentation`` with ``api_reference_path`` writes the API
    reference there.

Imports
    This package imports only the standard library and ``claude_pm.errors``;
    an agent's module is imported when that agent runs, and its tools run in
    subprocesses. It never imports ``claude_pm.tools``, ``state``,
    ``tickets``, ``workflow`` or the agent registry.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from claude_pm.agents.toolchain import options as _options
from claude_pm.agents.toolchain.request import (
    EXIT_BAD_INPUT,
    EXIT_BAD_OPTIONS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_TOOL_MISSING,
    BadInput,
    BadOptions,
    ToolchainError,
    ToolchainRequest,
    ToolMissing,
)

#: Agent type -> the module that runs it (imported only when that agent runs).
AGENTS: dict[str, str] = {
    "qa": "claude_pm.agents.toolchain.qa",
    "security": "claude_pm.agents.toolchain.security",
    "documentation": "claude_pm.agents.toolchain.documentation",
    "engineer": "claude_pm.agents.toolchain.engineer",
    "ops": "claude_pm.agents.toolchain.ops",
    "versioner": "claude_pm.agents.toolchain.versioner",
    "researcher": "claude_pm.agents.toolchain.researcher",
    "data_engineer": "claude_pm.agents.toolchain.data_engineer",
    "ticketer": "claude_pm.agents.toolchain.ticketer",
}

#: Agent type -> the context key whose mapping may carry that agent's options.
CONFIG_KEYS: dict[str, str] = {
    "qa": "test_config",
    "security": "security_config",
    "documentation": "doc_config",
    "engineer": "code_config",
    "ops": "deployment_config",
    "versioner": "release_config",
    "researcher": "analysis_config",
    "data_engineer": "data_config",
    "ticketer": "ticket_config",
}


def canonical_agent_type(agent_type: str) -> str:
    """``data-engineer`` and ``data_engineer`` name the same agent."""
    return agent_type.replace("-", "_")


def agent_module(agent_type: str) -> ModuleType:
    """The module of a built-in agent.

    Raises:
        KeyError: ``agent_type`` is not one of :data:`AGENTS`.
    """
    return importlib.import_module(AGENTS[canonical_agent_type(agent_type)])


def option_specs(agent_type: str) -> tuple[_options.Option, ...]:
    """Every option ``agent_type`` takes: the common ones, then its own."""
    return _options.COMMON + tuple(agent_module(agent_type).OPTIONS)


def check_options(agent_type: str, options: Mapping[str, Any] | None) -> list[str]:
    """Problems with an agent's options (empty when fine), each a sentence saying what to fix.

    The ``builtin`` backend calls it on a definition's ``backend_options``
    before spawning; :func:`run_agent` calls it on the merged options.
    """
    name = canonical_agent_type(agent_type)
    if name not in AGENTS:
        return [
            f"no built-in agent {agent_type!r}; the builtin backend runs: "
            + ", ".join(sorted(AGENTS))
        ]
    module = agent_module(name)
    given = options or {}
    problems = _options.check(_options.COMMON + tuple(module.OPTIONS), given)
    extra = getattr(module, "option_problems", None)
    if not problems and extra is not None:
        problems.extend(extra(given))
    return problems


def merge_options(
    agent_type: str, backend_options: Mapping[str, Any] | None, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The options of one run: ``backend_options`` overlaid with the config context key's.

    Only the agent's known option names are taken from ``context[CONFIG_KEYS[agent]]``
    (for qa, ``context["test_config"]["coverage_threshold"]`` and so on); other keys
    of that mapping are left to LLM backends.
    """
    name = canonical_agent_type(agent_type)
    config = context.get(CONFIG_KEYS.get(name, ""))
    return _options.merge(option_specs(name), backend_options, config)


def make_request(
    agent_type: str,
    *,
    project_root: str | Path,
    task: str,
    context: Mapping[str, Any],
    run_dir: str | Path,
    backend_options: Mapping[str, Any] | None = None,
) -> ToolchainRequest:
    """The request for one run, from the hand-off's parts: the mapping the backend uses.

    ``options`` is :func:`merge_options`; ``python`` is the ``python`` option
    (a relative path is taken from the project root) or ``sys.executable``.
    """
    root = Path(project_root)
    options = merge_options(agent_type, backend_options, context)
    python = options.get("python")
    if isinstance(python, str) and python:
        interpreter = (
            python if Path(python).is_absolute() or "/" not in python else str(root / python)
        )
    else:
        interpreter = sys.executable
    return ToolchainRequest(
        project_root=root,
        task=task,
        context=dict(context),
        run_dir=Path(run_dir),
        options=options,
        python=interpreter,
    )


def run_agent(
    agent_type: str, request: ToolchainRequest, out: TextIO, *, err: TextIO | None = None
) -> int:
    """Run one built-in agent; its report goes to ``out``, reasons for failing to ``err``.

    Returns:
        The exit code: :data:`EXIT_OK` when the agent did its job (findings or not),
        else :data:`EXIT_BAD_OPTIONS`, :data:`EXIT_TOOL_MISSING`, :data:`EXIT_BAD_INPUT`,
        :data:`EXIT_TIMEOUT` or :data:`EXIT_INTERNAL`.
    """
    err = err or sys.stderr
    name = canonical_agent_type(agent_type)
    problems = check_options(name, request.options)
    if problems:
        print(f"claude-pm builtin agent {agent_type!r}: " + "; ".join(problems), file=err)
        return EXIT_BAD_OPTIONS
    module = agent_module(name)
    values = _options.Values(option_specs(name), request.options)
    request.run_dir.mkdir(parents=True, exist_ok=True)
    from claude_pm.agents.toolchain.reporting import Report

    report = Report(out, module.TITLE, max_findings=values["max_findings"])
    try:
        code: int = module.run(request, report, values)
    except ToolchainError as e:
        report.line()
        report.line(f"Stopped: {e.message}")
        out.flush()
        print(f"claude-pm builtin agent {agent_type!r}: {e.message}", file=err)
        return int(getattr(e, "exit_code", EXIT_INTERNAL))
    except Exception:
        import traceback

        out.flush()
        print(f"claude-pm builtin agent {agent_type!r} failed:", file=err)
        traceback.print_exc(file=err)
        return EXIT_INTERNAL
    return code


__all__ = [
    "AGENTS",
    "CONFIG_KEYS",
    "EXIT_BAD_INPUT",
    "EXIT_BAD_OPTIONS",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_TOOL_MISSING",
    "BadInput",
    "BadOptions",
    "ToolMissing",
    "ToolchainError",
    "ToolchainRequest",
    "canonical_agent_type",
    "check_options",
    "make_request",
    "merge_options",
    "option_specs",
    "run_agent",
]
