"""The public test helper does what its docstring shows."""

from __future__ import annotations

from pathlib import Path

from claude_pm import ClaudeToolHandler
from claude_pm.testing import write_python_agent


def test_docstring_example_runs(tmp_path: Path):
    write_python_agent(tmp_path, "greeter", "import sys; print('hi', sys.stdin.read())")
    result = ClaudeToolHandler({"project_root": str(tmp_path)}).handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "greeter", "task_description": "Ada"}
    )
    assert result["output"] == "hi Ada\n"
    assert result["agent"]["source_file"] == str(tmp_path / ".claude" / "agents" / "greeter.md")
