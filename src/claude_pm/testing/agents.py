"""Agents for tests: a real agent definition that runs a Python snippet.

:func:`write_python_agent` writes a project-tier agent on the ``command``
backend that runs a Python snippet, so a test can drive
``execute_agent_subprocess`` (or the MCP server, or a PM loop) end to end
through real processes without any model behind it::

    from claude_pm import ClaudeToolHandler
    from claude_pm.testing import write_python_agent

    write_python_agent(tmp_path, "greeter", "import sys; print('hi', sys.stdin.read())")
    result = ClaudeToolHandler({"project_root": str(tmp_path)}).handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "greeter", "task_description": "Ada"}
    )
    assert result["output"] == "hi Ada\\n"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_python_agent"]


def write_python_agent(
    project_root: Path,
    name: str,
    code: str,
    body: str = "Test agent.",
    **front_matter: Any,
) -> Path:
    """Write ``PROJECT/.claude/agents/NAME.md`` running ``code`` with the project's Python.

    The snippet is saved as ``PROJECT/.claude/scripts/NAME.py``; it runs with
    the project as its working directory and the task on standard input.
    ``front_matter`` adds or overrides fields (``context_keys``, ``env``,
    ``timeout``, ``memory_limit``, ``backend_options``...). Returns the
    definition's path.
    """
    import yaml

    agents_dir = project_root / ".claude" / "agents"
    scripts_dir = project_root / ".claude" / "scripts"
    agents_dir.mkdir(parents=True, exist_ok=True)
    scripts_dir.mkdir(parents=True, exist_ok=True)
    script = scripts_dir / f"{name}.py"
    script.write_text(code, encoding="utf-8")
    fields: dict[str, Any] = {
        "name": name,
        "description": f"{name} test agent",
        "backend": "command",
        "backend_options": {"command": ["{python}", str(script)]},
        **front_matter,
    }
    path = agents_dir / f"{name}.md"
    text = f"---\n{yaml.safe_dump(fields, sort_keys=False)}---\n{body}\n"
    path.write_text(text, encoding="utf-8")
    return path
