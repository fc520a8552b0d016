"""New agent definitions that run as they are: what ``agents new`` and ``init`` write.

Two kinds:

* ``command`` (default): a definition on the ``command`` backend plus a small
  Python script beside it (``.claude/agents/NAME.py``) that reads its hand-off
  (``CLAUDE_PM_CONTEXT_FILE``), looks at the project and prints a report whose
  findings are marker lines. It runs at once, offline; edit the script to make
  it do your job.
* ``prompt``: a Claude Code subagent (a system prompt and its tools) with no
  backend pinned, for the LLM backends (``claude-code``, ``anthropic``,
  ``openai``); the same file works in Claude Code itself.

Both are checked by the real parser before they are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from claude_pm.agents.definition import Tier
from claude_pm.agents.fields import NAME_PATTERN
from claude_pm.agents.parsing import parse_agent_text
from claude_pm.errors import InvalidInput


class ScaffoldKind(StrEnum):
    COMMAND = "command"
    PROMPT = "prompt"


_COMMAND_DEFINITION = """\
---
name: {name}
description: >-
  {description}
specializations: [{specializations}]
context_keys: [file_paths]   # context keys it may see besides project_root, user_requirements
timeout: 120                 # seconds
memory_limit: 256            # megabytes, for the agent's whole process tree
backend: command
backend_options:
  command: ["{{python}}", "{{project_root}}/.claude/agents/{name}.py"]
  stdin: none
---

The {title} agent: a program, {name}.py beside this file, that claude-pm runs as
a supervised process. Its findings are lines starting with TODO:, BUG:, SECURITY:,
REFACTOR:... followed by path:line, which claude-pm files as tickets.
"""

_COMMAND_SCRIPT = '''\
"""{name}: a claude-pm command agent. It is yours: make it do the job.

claude-pm runs it with the task and context in the hand-off file named by
CLAUDE_PM_CONTEXT_FILE. What it prints is its report; a line like
"REFACTOR: src/app.py:1: ..." becomes a ticket. Exit 0 when it did its job.
"""

import json
import os
import pathlib

with open(os.environ["CLAUDE_PM_CONTEXT_FILE"], encoding="utf-8") as f:
    handoff = json.load(f)
root = pathlib.Path(handoff["project_root"])
print("# {name} report")
print("Task:", handoff["task"])
print()
bases = [pathlib.Path(p) for p in handoff["context"].get("file_paths", [])] or [root]
read = 0
for base in bases:
    for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        read += 1
        lines = path.read_text(encoding="utf-8", errors="replace").count("\\n")
        if lines > {max_lines}:
            print(f"REFACTOR: {{relative.as_posix()}}:1: {{lines}} lines; consider splitting it")
print()
print(f"Summary: {{read}} Python file(s) read.")
'''

_PROMPT_DEFINITION = """\
---
name: {name}
description: >-
  {description}
# Claude Code fields: tools (omit to inherit all), model (sonnet, opus, haiku, inherit...)
tools: Read, Grep, Glob
model: inherit
# claude-pm fields (optional):
specializations: [{specializations}]
context_keys: [file_paths]
timeout: 600
memory_limit: 1024
---

You are the {title} on this project.

## How to work

List the checks or steps, in order, that a strong engineer in this role would follow.

## How to report

Put each finding on its own line as `MARKER: path:line: what and why`, the marker one
of TODO, FIXME, BUG, SECURITY, PERFORMANCE, REFACTOR or FEATURE, so claude-pm files it
as a ticket. End with a short summary.
"""


@dataclass(frozen=True)
class Scaffold:
    """What was written (or would be), and the command to run it."""

    definition: Path
    script: Path | None
    run_hint: str


def write_scaffold(
    agents_dir: Path,
    name: str,
    *,
    description: str | None = None,
    specializations: tuple[str, ...] = (),
    kind: ScaffoldKind = ScaffoldKind.COMMAND,
    force: bool = False,
) -> Scaffold:
    """Write a new agent into ``agents_dir`` (``PROJECT/.claude/agents``).

    Raises:
        InvalidInput: a bad name, or the files exist and ``force`` is not set.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a valid agent name: use lowercase letters, digits and hyphens.",
            field="name",
        )
    definition = agents_dir / f"{name}.md"
    script = agents_dir / f"{name}.py" if kind is ScaffoldKind.COMMAND else None
    existing = [p for p in (definition, script) if p is not None and p.exists()]
    if existing and not force:
        raise InvalidInput(
            f"{existing[0]} already exists; edit it, or pass --force to replace it.",
            field="name",
        )
    words = " ".join((description or f"Describe when to delegate to {name}.").split())
    values = {
        "name": name,
        "description": words,
        "specializations": ", ".join(s.strip() for s in specializations if s.strip()),
        "title": name.replace("-", " ").replace("_", " "),
        "max_lines": 400,
    }
    template = _COMMAND_DEFINITION if kind is ScaffoldKind.COMMAND else _PROMPT_DEFINITION
    text = template.format(**values)
    outcome = parse_agent_text(text, definition, Tier.PROJECT)
    if outcome.definition is None:  # pragma: no cover - the templates are tested
        raise InvalidInput("; ".join(p.message for p in outcome.errors), field="name")
    agents_dir.mkdir(parents=True, exist_ok=True)
    definition.write_text(text, encoding="utf-8")
    if script is not None:
        script.write_text(_COMMAND_SCRIPT.format(**values), encoding="utf-8")
    hint = f'claude-pm run {name} "look at the project"'
    if kind is ScaffoldKind.PROMPT:
        hint += " --backend claude-code"
    return Scaffold(definition, script, hint)


__all__ = ["Scaffold", "ScaffoldKind", "write_scaffold"]
