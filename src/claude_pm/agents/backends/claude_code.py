"""The ``claude-code`` backend: an agent as a headless Claude Code session.

Any agent definition runs this way: a shipped one, or any of the Claude Code
agent files people already have. The life of one session:

1. **Find the CLI** (:func:`find_cli`): the ``claude_code_path`` setting
   (``CLAUDE_PM_CLAUDE_PATH``), else ``claude`` on the agent's ``PATH``, else
   the CLI bundled in the ``claude-agent-sdk`` wheel (found without importing
   the SDK).
2. **Build the command** (:func:`build_argv`, a pure function):
   ``claude -p --output-format stream-json --verbose --input-format text``, a
   ``--session-id`` chosen here, the definition's body as the appended system
   prompt, its ``tools`` as both ``--tools`` and ``--allowedTools`` (a headless
   session denies whatever is not pre-approved), ``disallowedTools``,
   ``model`` (not ``inherit``; else the ``model`` setting), ``maxTurns``,
   ``effort``, ``permissionMode`` (``default`` when it names none, so a user's
   ``defaultMode`` setting cannot bypass), the run's budget as ``--max-budget-usd``,
   and the definition's vetted ``backend_options.extra_args``.
   ``bypassPermissions`` is passed only when the definition asks for it *and*
   the operator's ``allow_bypass_permissions`` setting is on; otherwise the
   session runs in ``dontAsk`` and stderr says so. No skip-permissions flag is
   ever passed.
3. **Start it** (:mod:`.claude_code_session`) with ``subprocess.Popen`` as a
   child of the executor, so it stays in the supervised tree (memory limits,
   timeout, tree kills). The prompt (the task, and the context the agent may
   see) is its standard input, from a file: large values never go in argv.
   Its environment is the executor's (the allowlist, ``ANTHROPIC_*``,
   ``CLAUDE_CODE_*``) without the variables a surrounding Claude Code session
   sets for its children (:data:`NESTED_SESSION_ENV`); the user's
   ``~/.claude`` is reached through ``HOME``.
4. **Read the stream** line by line: the raw stream goes to
   ``claude-stream.jsonl`` in the run directory, each result's text to stdout
   (the report the model gets back, where claude-pm finds tickets), the CLI's
   stderr through to ours. After a result that nothing follows (no background
   task running, no turn queued), the CLI gets :data:`EXIT_GRACE_S` to exit,
   then TERM, then KILL: a CLI that stays alive after its result does not hold
   the run. A stream silent for the idle timeout ends the session the same way.
5. **Report** (``result.json``, written atomically on every exit path this
   module controls): model, usage, cost, turns, session id, terminal reason,
   error and error kind, and every rate-limit event. Exit code: 0 when the
   session ended normally, 1 on an error result (or a stopped session), the
   CLI's own exit code or signal otherwise. A SIGTERM from the supervisor is
   passed on to the CLI and the report written before the executor exits.

Standard library only, and no SDK import: the CLI is a subprocess.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.agents.handoff import AgentSpec, Handoff

#: Ends a session whose event stream is silent this long, unless a setting says otherwise.
DEFAULT_IDLE_TIMEOUT_S = 900.0
#: The permission mode a session gets instead of ``bypassPermissions`` when that is not allowed.
SAFE_PERMISSION_MODE = "dontAsk"
#: The mode of a definition that names none. Always passed: a user's ``defaultMode`` setting
#: of ``bypassPermissions`` must not reach a session the operator did not allow to bypass.
DEFAULT_PERMISSION_MODE = "default"
BYPASS_PERMISSION_MODE = "bypassPermissions"
#: Bodies longer than this go to the CLI in a file (``--append-system-prompt-file``).
INLINE_SYSTEM_PROMPT_MAX_BYTES = 32 * 1024
PROMPT_FILENAME = "claude-prompt.txt"
SYSTEM_PROMPT_FILENAME = "claude-system-prompt.md"
EXIT_CONFIG = 78
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

OPTION_NAMES = ("idle_timeout", "extra_args")
#: The flags ``backend_options.extra_args`` may add, and whether each takes a value. Each
#: narrows or tunes a session; none widens what it may do (permissions, tools, directories).
SAFE_EXTRA_FLAGS: dict[str, bool] = {
    "--bare": False,
    "--safe-mode": False,
    "--restricted": False,
    "--strict-mcp-config": False,
    "--disable-slash-commands": False,
    "--exclude-dynamic-system-prompt-sections": False,
    "--include-partial-messages": False,
    "--no-session-persistence": False,
    "--effort": True,
    "--fallback-model": True,
}
#: Set by a Claude Code session for the processes it starts (claude-pm's MCP server among
#: them): a nested-session guard, the parent's session, its IDE link. A child session that
#: kept them would believe it is part of an interactive session.
NESTED_SESSION_ENV = (
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_CODE_CHILD_SESSION",
    "CLAUDE_CODE_SESSION_ATTENDED",
    "CLAUDE_CODE_LAUNCHED_BY_SESSION_IDS",
    "CLAUDE_CODE_SSE_PORT",
    "CLAUDE_CODE_AUTO_CONNECT_IDE",
)


# -- options ---------------------------------------------------------------------------


def _is_positive_number(value: Any) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and math.isfinite(value) and value > 0


def parse_extra_args(value: Any) -> tuple[list[str], list[str]]:
    """``backend_options.extra_args`` as CLI arguments, and the problems with it.

    Items are flags (``--bare``) or a flag with its value, either as one item
    (``--effort=high``) or two (``--effort``, ``high``).
    """
    allowed = ", ".join(SAFE_EXTRA_FLAGS)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [], [f"backend_options.extra_args must be a list of strings (flags: {allowed})"]
    args: list[str] = []
    problems: list[str] = []
    items = list(value)
    while items:
        item = items.pop(0)
        flag, has_inline, inline = item.partition("=")
        takes_value = SAFE_EXTRA_FLAGS.get(flag)
        if takes_value is None:
            problems.append(
                f"backend_options.extra_args: {flag!r} is not a flag claude-pm passes to Claude "
                f"Code; the allowed ones are {allowed} (permissions, tools and the model "
                "come from the definition's own fields)"
            )
            if not has_inline and items and not items[0].startswith("-"):
                items.pop(0)  # its value: one problem per flag
        elif not takes_value:
            if has_inline:
                problems.append(f"backend_options.extra_args: {flag} takes no value")
            args.append(flag)
        elif has_inline:
            args.append(f"{flag}={inline}")
        elif items and not items[0].startswith("-"):
            args += [flag, items.pop(0)]
        else:
            problems.append(f"backend_options.extra_args: {flag} needs a value ({flag}=VALUE)")
    return args, problems


def check_options(options: Mapping[str, Any], *, agent_type: str = "") -> list[str]:
    """Problems with a definition's ``backend_options`` (empty when fine): the only check.

    Any agent runs on this backend, so ``agent_type`` changes nothing.
    """
    problems = []
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        problems.append(
            f"unknown backend_options {', '.join(map(repr, unknown))} for the claude-code "
            "backend; it takes idle_timeout (seconds) and extra_args (a list of flags)"
        )
    idle = options.get("idle_timeout")
    if idle is not None and not _is_positive_number(idle):
        problems.append(
            "backend_options.idle_timeout must be a number of seconds greater than 0 (a "
            f"session whose event stream is silent that long is stopped), got {idle!r:.80}"
        )
    if "extra_args" in options:
        problems += parse_extra_args(options["extra_args"])[1]
    return problems


# -- the CLI ---------------------------------------------------------------------------


def bundled_cli() -> str | None:
    """The CLI in the installed ``claude-agent-sdk`` wheel, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("claude_agent_sdk")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = os.path.join(location, "_bundled", "claude")  # noqa: PTH118
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):  # noqa: PTH113
            return candidate
    return None


def find_cli(configured: str | None, search_path: str | None) -> str | None:
    """The Claude Code CLI: ``configured`` (a path, or a name looked up on ``search_path``),
    else ``claude`` on ``search_path``, else the one bundled in ``claude-agent-sdk``."""
    if configured:
        if os.sep not in configured:
            return shutil.which(configured, path=search_path)
        usable = os.path.isfile(configured) and os.access(configured, os.X_OK)  # noqa: PTH113
        return os.path.abspath(configured) if usable else None  # noqa: PTH100
    return shutil.which("claude", path=search_path) or bundled_cli()


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The CLI's environment: the executor's, less :data:`NESTED_SESSION_ENV`."""
    return {k: v for k, v in environ.items() if k not in NESTED_SESSION_ENV}


# -- the command -----------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """The CLI's argv, the model and permission mode asked for, and what was changed and why."""

    argv: tuple[str, ...]
    model: str | None
    permission_mode: str
    notes: tuple[str, ...] = ()


def _split_tools(value: Any, field_name: str) -> list[str]:
    """A tool list as Claude Code writes it: a list, or one comma-separated string."""
    if isinstance(value, str):
        parts, depth, current = [], 0, ""
        for ch in value:
            depth += (ch in "([") - (ch in ")]")
            if ch == "," and depth <= 0:
                parts.append(current)
                current = ""
            else:
                current += ch
        parts.append(current)
        return list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(dict.fromkeys(v.strip() for v in value if v.strip()))
    raise ValueError(f"{field_name} must be a list of tool names or a comma-separated string")


def _built_in_name(rule: str) -> str | None:
    """``Bash(git *)`` -> ``Bash``; MCP tools (``mcp__...``) are not built-ins."""
    name = rule.split("(", 1)[0].strip()
    return None if not name or name.startswith("mcp__") else name


def _option(flag: str, value: str) -> list[str]:
    """``[flag, value]``, or ``flag=value`` for a value the CLI would read as a flag."""
    return [f"{flag}={value}"] if value.startswith("-") else [flag, value]


def build_argv(
    cli: str,
    agent: AgentSpec,
    *,
    session_id: str,
    model_setting: str | None = None,
    budget_usd: float | None = None,
    allow_bypass: bool = False,
    system_prompt_file: str | None = None,
    extra_args: Sequence[str] = (),
) -> Invocation:
    """The command that runs ``agent`` headless; ``system_prompt_file`` holds a long body.

    Raises:
        ValueError: a Claude Code field of the definition is malformed (says which).
    """
    fields = agent.claude_code
    argv = [cli, "-p", "--output-format", "stream-json", "--verbose", "--input-format", "text"]
    argv += ["--session-id", session_id]
    notes: list[str] = []
    if system_prompt_file is not None:
        argv += _option("--append-system-prompt-file", system_prompt_file)
    elif agent.system_prompt.strip():
        argv += _option("--append-system-prompt", agent.system_prompt)
    if agent.tools is not None:
        rules = _split_tools(list(agent.tools), "tools")
        built_in = [n for n in dict.fromkeys(map(_built_in_name, rules)) if n is not None]
        argv += ["--tools", ",".join(built_in)]
        if rules:
            argv += ["--allowedTools", *rules]
    if fields.get("disallowedTools") is not None:
        denied = _split_tools(fields["disallowedTools"], "disallowedTools")
        if denied:
            argv += ["--disallowedTools", *denied]
    model = agent.model if agent.model and agent.model != "inherit" else model_setting
    if model:
        argv += _option("--model", model)
    max_turns = fields.get("maxTurns")
    if max_turns is not None:
        if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns <= 0:
            raise ValueError(f"maxTurns must be a positive integer, got {max_turns!r:.80}")
        argv += ["--max-turns", str(max_turns)]
    effort = fields.get("effort")
    if effort is not None:
        if not isinstance(effort, str) or not effort.strip():
            raise ValueError(f"effort must be a level such as low or high, got {effort!r:.80}")
        argv += _option("--effort", effort.strip())
    if budget_usd is not None:
        if not _is_positive_number(budget_usd):
            raise ValueError(f"the run's budget must be a positive dollar amount: {budget_usd!r}")
        argv += ["--max-budget-usd", format(budget_usd, "g")]
    mode = fields.get("permissionMode") or DEFAULT_PERMISSION_MODE
    if not isinstance(mode, str):
        raise ValueError(f"permissionMode must be a string, got {mode!r:.80}")
    if mode == BYPASS_PERMISSION_MODE and not allow_bypass:
        notes.append(
            f"agent {agent.name!r} asks for permissionMode {BYPASS_PERMISSION_MODE}, which this "
            f"claude-pm does not allow (setting allow_bypass_permissions, "
            f"CLAUDE_PM_ALLOW_BYPASS_PERMISSIONS); running it in {SAFE_PERMISSION_MODE} mode: "
            "tools it is not given are denied"
        )
        mode = SAFE_PERMISSION_MODE
    argv += ["--permission-mode", mode]
    argv += list(extra_args)
    return Invocation(tuple(argv), model or None, mode, tuple(notes))


def prompt_text(handoff: Handoff) -> str:
    """What the session is asked: the task, then the context the agent may see, as JSON."""
    import json

    context = {k: v for k, v in handoff.context.items() if k != "project_root"}
    if not context:
        return handoff.task
    shown = json.dumps(context, indent=2, ensure_ascii=False, default=str)
    return f"{handoff.task}\n\n<claude-pm-context>\n{shown}\n</claude-pm-context>\n"


def idle_timeout_for(handoff: Handoff) -> float:
    """The agent's ``backend_options.idle_timeout``, else the setting, else the default."""
    for value in (
        handoff.agent.backend_options.get("idle_timeout"),
        handoff.backend_config.get("claude_code_idle_timeout_s"),
    ):
        if isinstance(value, (int, float)) and _is_positive_number(value):
            return float(value)
    return DEFAULT_IDLE_TIMEOUT_S


class Refused(Exception):
    """A session cannot start; ``exit_code`` is the executor's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _in_run_dir(handoff: Handoff, name: str, text: str) -> str:
    path = os.path.join(handoff.run_dir, name)  # noqa: PTH118
    with open(path, "w", encoding="utf-8") as f:  # noqa: PTH123
        f.write(text)
    return path


def prepare(handoff: Handoff, session_id: str) -> tuple[Invocation, str]:
    """The command for ``handoff`` and the file to give it as stdin (written when needed).

    Raises:
        Refused: no usable CLI, or a definition it cannot run (the message says what to fix).
        OSError: a file cannot be written in the run directory.
    """
    config = handoff.backend_config
    configured = config.get("claude_code_path")
    cli = find_cli(configured, os.environ.get("PATH"))
    if cli is None:
        if configured:
            raise Refused(
                f"the Claude Code CLI configured as {configured!r} (setting claude_code_path, "
                "CLAUDE_PM_CLAUDE_PATH) is not an executable file; fix the setting, or unset "
                "it to use `claude` on PATH or the CLI bundled in claude-agent-sdk",
                EXIT_NOT_FOUND,
            )
        raise Refused(
            "no Claude Code CLI found: no `claude` on the agent's PATH "
            f"({os.environ.get('PATH', '')!r}) and no claude-agent-sdk installed; install "
            "Claude Code, `pip install claude-agent-sdk`, or set CLAUDE_PM_CLAUDE_PATH",
            EXIT_NOT_FOUND,
        )
    extra, problems = parse_extra_args(handoff.agent.backend_options.get("extra_args", []))
    if problems:
        raise Refused("; ".join(problems), EXIT_CONFIG)
    body = handoff.agent.system_prompt
    system_file = None
    if len(body.encode("utf-8")) > INLINE_SYSTEM_PROMPT_MAX_BYTES:
        system_file = _in_run_dir(handoff, SYSTEM_PROMPT_FILENAME, body)
    try:
        invocation = build_argv(
            cli,
            handoff.agent,
            session_id=session_id,
            model_setting=config.get("model"),
            budget_usd=handoff.budget_usd,
            allow_bypass=config.get("allow_bypass_permissions") is True,
            system_prompt_file=system_file,
            extra_args=extra,
        )
    except ValueError as e:
        where = handoff.agent.source_path or handoff.agent.name
        raise Refused(f"agent definition {where}: {e}", EXIT_CONFIG) from e
    prompt = prompt_text(handoff)
    if prompt == handoff.task and os.path.isfile(handoff.task_file):  # noqa: PTH113
        return invocation, handoff.task_file
    return invocation, _in_run_dir(handoff, PROMPT_FILENAME, prompt)


def run(handoff: Handoff) -> int:
    """Run the agent as a Claude Code session; returns the exit code (see the module doc)."""
    from claude_pm.agents.backends.claude_code_session import run_session

    return run_session(handoff)


__all__ = [
    "BYPASS_PERMISSION_MODE",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_PERMISSION_MODE",
    "NESTED_SESSION_ENV",
    "SAFE_EXTRA_FLAGS",
    "SAFE_PERMISSION_MODE",
    "Invocation",
    "Refused",
    "build_argv",
    "bundled_cli",
    "check_options",
    "child_environment",
    "find_cli",
    "idle_timeout_for",
    "parse_extra_args",
    "prepare",
    "prompt_text",
    "run",
]
