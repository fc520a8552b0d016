"""Which tools an LLM agent gets from its definition, and the toolbox that runs them.

The grant, from Claude Code's fields
    ``Read``, ``Glob`` and ``Grep`` are always offered. A definition without
    ``tools`` inherits every tool this backend has (as a Claude Code subagent
    inherits all of its session's): ``Write``, ``Edit`` and ``Bash`` too. A
    definition with ``tools`` gets ``Write``, ``Edit`` and ``Bash`` only when
    it lists them (``MultiEdit`` counts as ``Edit``, ``LS`` as ``Glob``).
    ``disallowedTools`` removes a tool, whatever else says. Names this backend
    has no tool for (``WebFetch``, ``Task``, ``mcp__...``) are reported to the
    model in the task message and to the transcript, not offered.

Rules in parentheses, as in Claude Code's permission rules
    ``Bash(git diff:*)`` in ``tools`` lets the agent run only commands that
    start with ``git diff`` (``Bash(make test)``: exactly that command;
    ``Bash(npm *)``: a ``*`` wildcard); a command line that chains commands
    (``;``, ``&&``, ``|``...) or substitutes one (``$(...)``, backticks) is
    then refused, since it could not be checked. In ``disallowedTools`` the
    same rule refuses the matching commands, in every part of a chain. For a
    file tool the rule is a path pattern relative to the project root
    (``Edit(docs/**)``; a pattern without ``/`` matches a file name at any
    depth, as in ``.gitignore``): in ``tools`` the tool may only touch
    matching paths, in ``disallowedTools`` it may not touch them. Glob and
    Grep leave out files the rules deny them, and Grep files denied to Read.
    Command rules match the command's text, as Claude Code's do: they guard
    against mistakes, they are not a sandbox (``env rm`` is not ``rm``); the
    project confinement and the run's sandbox are.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_pm.agents.backends.file_search import glob_files, grep_files
from claude_pm.agents.backends.file_tools import ProjectFiles, ToolRefused, glob_regex
from claude_pm.agents.backends.tool_specs import MAX_BASH_TIMEOUT_MS, SCHEMAS, descriptions
from claude_pm.cancel import CancelToken
from claude_pm.llm.toolbox import ToolProgress, invalid_arguments_outcome, run_concurrently
from claude_pm.llm.types import ToolCall, ToolOutcome, ToolSpec

log = logging.getLogger(__name__)

#: Every tool of this backend, in the order the model is shown them.
TOOLS = ("Read", "Glob", "Grep", "Write", "Edit", "Bash")
ALWAYS = ("Read", "Glob", "Grep")
#: Claude Code tools this backend provides under another name.
ALIASES = {"LS": "Glob", "MultiEdit": "Edit"}
FILE_TOOLS = ("Read", "Glob", "Grep", "Write", "Edit")
_ENTRY = re.compile(r"^\s*([^()\s]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_CHAIN = re.compile(r"\|\||&&|[;&|\n]")
_SUBSTITUTION = ("$(", "`", "<(", ">(")


def parse_entry(entry: str) -> tuple[str, str | None]:
    """``"Bash(git diff:*)"`` -> ``("Bash", "git diff:*")``; ``"Read"`` -> ``("Read", None)``."""
    match = _ENTRY.match(entry)
    if match is None:
        return entry.strip(), None
    name, rule = match.group(1), match.group(2)
    return name, (rule.strip() or None) if rule is not None else None


def split_names(value: Any) -> list[str]:
    """A tools field (a list, or a comma-separated string) as its entries."""
    if value is None:
        return []
    if isinstance(value, str):
        parts, depth, current = [], 0, ""
        for ch in value:
            depth += (ch == "(") - (ch == ")")
            if ch == "," and depth <= 0:
                parts.append(current)
                current = ""
            else:
                current += ch
        parts.append(current)
        return [p.strip() for p in parts if p.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


@dataclass(frozen=True)
class ToolRules:
    """One tool's rules: with ``allow`` rules only matching subjects pass; ``deny`` refuses."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


def _path_matches(rule: str, rel: str) -> bool:
    pattern = rule.removeprefix("./").lstrip("/")
    if "/" not in pattern.rstrip("/"):
        return any(glob_regex(pattern.rstrip("/")).match(part) for part in rel.split("/"))
    regex = glob_regex(pattern.rstrip("/"))
    parts = rel.split("/")
    return any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def _command_matches(rule: str, command: str) -> bool:
    if rule.endswith(":*"):
        prefix = rule[:-2].strip()
        return command == prefix or command.startswith(prefix + " ")
    if "*" in rule:
        return fnmatch.fnmatchcase(command, rule)
    return command == rule


@dataclass(frozen=True)
class ToolGrant:
    """The tools an agent gets, their rules, and what its definition named that is not here."""

    tools: tuple[str, ...]
    rules: Mapping[str, ToolRules] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()
    #: Tools this backend has that the definition does not grant, and why.
    withheld: Mapping[str, str] = field(default_factory=dict)

    def check_path(self, tool: str, rel: str) -> str | None:
        """Why ``tool`` may not use the project-relative path ``rel`` (None: it may)."""
        rules = self.rules.get(tool)
        if rules is None:
            return None
        for rule in rules.deny:
            if _path_matches(rule, rel):
                return (
                    f"{tool} may not use {rel!r}: the agent's disallowedTools has {tool}({rule})."
                )
        if rules.allow and not any(_path_matches(rule, rel) for rule in rules.allow):
            allowed = ", ".join(rules.allow)
            return f"{tool} may only use paths matching {allowed} (the agent's tools), not {rel!r}."
        return None

    def check_command(self, command: str) -> str | None:
        """Why Bash may not run ``command`` (None: it may)."""
        rules = self.rules.get("Bash")
        if rules is None:
            return None
        line = command.strip()
        parts = [p.strip() for p in _CHAIN.split(line) if p.strip()]
        unchecked = any(s in line for s in _SUBSTITUTION)
        if rules.allow:
            allowed = ", ".join(f"Bash({r})" for r in rules.allow)
            if unchecked or len(parts) != 1 or any(c in line for c in "<>"):
                return (
                    f"this agent may run only {allowed}; run one plain command at a time "
                    "(no ;, &&, |, redirections or $(...))."
                )
            if not any(_command_matches(rule, line) for rule in rules.allow):
                return f"this agent may run only {allowed}, not {line!r}."
        if rules.deny:
            if unchecked:
                return (
                    "this command substitutes another ($(...) or backticks), which cannot be "
                    "checked against the agent's disallowedTools; run the commands one by one."
                )
            for part in parts:
                for rule in rules.deny:
                    if _command_matches(rule, part):
                        return f"{part!r} is refused by the agent's disallowedTools: Bash({rule})."
        return None


def grant_tools(tools: Sequence[str] | None, disallowed: Any = None) -> ToolGrant:
    """The grant for a definition's ``tools`` and ``disallowedTools`` (see the module docstring)."""
    offered: dict[str, None] = dict.fromkeys(ALWAYS)
    allow: dict[str, list[str]] = {}
    unrestricted: set[str] = set()
    unsupported: list[str] = []
    if tools is None:
        offered.update(dict.fromkeys(TOOLS))
        unrestricted.update(TOOLS)
    else:
        for entry in tools:
            name, rule = parse_entry(entry)
            tool = ALIASES.get(name, name)
            if tool not in TOOLS:
                unsupported.append(entry)
                continue
            offered[tool] = None
            if rule is None:
                unrestricted.add(tool)
            else:
                allow.setdefault(tool, []).append(rule)
    # Read, Glob and Grep come anyway: unrestricted, unless the tools give only rules for one.
    unrestricted.update(t for t in ALWAYS if t not in allow)
    deny: dict[str, list[str]] = {}
    removed: set[str] = set()
    for entry in split_names(disallowed):
        name, rule = parse_entry(entry)
        if name not in TOOLS:
            continue
        if rule is None:
            removed.add(name)
        else:
            deny.setdefault(name, []).append(rule)
    granted = tuple(t for t in TOOLS if t in offered and t not in removed)
    rules = {
        t: ToolRules(
            allow=() if t in unrestricted else tuple(allow.get(t, ())),
            deny=tuple(deny.get(t, ())),
        )
        for t in granted
        if (t not in unrestricted and allow.get(t)) or deny.get(t)
    }
    withheld = {
        t: "the agent's disallowedTools lists it"
        if t in removed
        else "the agent's tools do not list it"
        for t in TOOLS
        if t not in granted
    }
    return ToolGrant(granted, rules, tuple(unsupported), withheld)


class BashTool:
    """Bash: ``/bin/sh -c COMMAND`` in the project root, a child of the agent (so in its tree).

    It runs in its own process group with stdin closed; after it ends, or on its
    timeout, the whole group is killed, so nothing it started lives on.
    """

    def __init__(
        self,
        root: Path,
        run_dir: Path,
        *,
        env: Mapping[str, str],
        default_timeout_s: float,
        output_cap_bytes: int,
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.root = root
        self.run_dir = run_dir
        self.env = dict(env)
        self.default_timeout_s = default_timeout_s
        self.output_cap_bytes = output_cap_bytes
        self.check = check

    def run(self, args: Mapping[str, Any]) -> ToolOutcome:
        from claude_pm.agents.toolchain.request import ToolMissing
        from claude_pm.agents.toolchain.running import run_tool

        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolRefused("command must be a non-empty command line.")
        if args.get("run_in_background"):
            raise ToolRefused("run_in_background is not supported here: commands run to their end.")
        timeout_s = self._timeout_s(args.get("timeout"))
        why = self.check(command) if self.check is not None else None
        if why is not None:
            raise ToolRefused(why)
        try:
            run = run_tool(
                ["/bin/sh", "-c", command],
                cwd=self.root,
                env=self.env,
                timeout_s=timeout_s,
                output_cap_bytes=self.output_cap_bytes,
            )
        except ToolMissing as e:
            raise ToolRefused(f"the shell cannot be started: {e}") from e
        parts = []
        if run.stdout.strip():
            parts.append(run.stdout.rstrip("\n"))
        if run.stderr.strip():
            parts.append("[stderr]\n" + run.stderr.rstrip("\n"))
        if run.stdout_truncated or run.stderr_truncated:
            parts.append(f"[output cut at {self.output_cap_bytes} bytes per stream]")
        if run.timed_out:
            parts.append(f"[killed after {timeout_s:g} s: the command outran its timeout]")
        elif run.returncode != 0:
            parts.append(f"[exit code {run.returncode}]")
        failed = run.timed_out or run.returncode != 0
        return ToolOutcome("\n".join(parts) or "(no output)", is_error=failed)

    def _timeout_s(self, value: Any) -> float:
        if value is None:
            return self.default_timeout_s
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not 0 < value <= MAX_BASH_TIMEOUT_MS:
            raise ToolRefused(f"timeout is in milliseconds, 1 to {MAX_BASH_TIMEOUT_MS}.")
        return float(value) / 1000


class AgentToolbox:
    """The :class:`~claude_pm.llm.toolbox.Toolbox` of an LLM agent: its granted tools."""

    def __init__(
        self,
        grant: ToolGrant,
        files: ProjectFiles,
        bash: BashTool | None,
        *,
        bash_timeout_s: float,
    ) -> None:
        self.grant = grant
        texts = descriptions(files.limits, bash_timeout_s)
        handlers: dict[str, Callable[[Mapping[str, Any]], ToolOutcome]] = {
            "Read": lambda a: ToolOutcome(files.read(a)),
            "Glob": lambda a: ToolOutcome(glob_files(files, a)),
            "Grep": lambda a: ToolOutcome(grep_files(files, a)),
            "Write": lambda a: ToolOutcome(files.write(a)),
            "Edit": lambda a: ToolOutcome(files.edit(a)),
        }
        if bash is not None:
            handlers["Bash"] = bash.run
        self._handlers = {name: handlers[name] for name in grant.tools if name in handlers}
        self._tools = tuple(
            ToolSpec(name, self._describe(name, texts[name]), SCHEMAS[name])
            for name in self._handlers
        )

    def _describe(self, name: str, text: str) -> str:
        rules = self.grant.rules.get(name)
        if rules is None:
            return text
        if rules.allow:
            text += f" This agent may use it only for: {', '.join(rules.allow)}."
        if rules.deny:
            text += f" Refused for: {', '.join(rules.deny)}."
        return text

    @property
    def tools(self) -> Sequence[ToolSpec]:
        return self._tools

    def run_calls(
        self,
        calls: Sequence[ToolCall],
        *,
        max_parallel: int,
        cancel: CancelToken | None,
        on_progress: ToolProgress | None,
    ) -> Sequence[ToolOutcome]:
        return run_concurrently(self._run, list(calls), max_parallel)

    def _run(self, call: ToolCall) -> ToolOutcome:
        if call.arguments is None:
            return invalid_arguments_outcome(call)
        handler = self._handlers.get(call.name)
        if handler is None:
            return ToolOutcome(f"Error: {self._not_offered(call.name)}", is_error=True)
        try:
            return handler(call.arguments)
        except ToolRefused as e:
            return ToolOutcome(f"Error: {e}", is_error=True)
        except OSError as e:
            return ToolOutcome(f"Error: {call.name} failed: {e.strerror or e}", is_error=True)
        except Exception as e:  # a tool call never raises into the loop
            log.exception("tool %s failed", call.name)
            return ToolOutcome(f"Error: {call.name} failed: {type(e).__name__}: {e}", is_error=True)

    def _not_offered(self, name: str) -> str:
        available = ", ".join(self._handlers)
        why = self.grant.withheld.get(ALIASES.get(name, name))
        if why is not None:
            return f"{name} is not allowed for this agent ({why}). Use one of: {available}."
        return f"Unknown tool {name!r}: this backend has no such tool. Use one of: {available}."


__all__ = [
    "ALIASES",
    "ALWAYS",
    "FILE_TOOLS",
    "TOOLS",
    "AgentToolbox",
    "BashTool",
    "ToolGrant",
    "ToolRules",
    "grant_tools",
    "parse_entry",
    "split_names",
]
