"""Every tool's ``structuredContent`` is valid against the ``outputSchema`` it declares.

Through the real MCP client against a real server: results that succeed,
results of agents and workflows that failed, error results (bad arguments,
unknown agents), and a workflow result shortened to stay small. The client
checks results that are not errors itself; here every one is checked with
``jsonschema``, errors included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client
from mcp_servers import stdio_params

from claude_pm.tools.result_schemas import OUTPUT_SCHEMAS
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

#: (tool, arguments, whether the result is an error): at least one of each kind per tool.
CALLS: list[tuple[str, dict[str, Any], bool]] = [
    ("execute_agent_subprocess", {"agent_type": "finder", "task_description": "Find."}, False),
    ("execute_agent_subprocess", {"agent_type": "broken", "task_description": "Fail."}, True),
    ("execute_agent_subprocess", {"agent_type": "wizard", "task_description": "Summon."}, True),
    ("execute_agent_subprocess", {"agent_type": "finder"}, True),
    ("discover_available_agents", {}, False),
    ("discover_available_agents", {"specialization": "testing", "include_custom": False}, False),
    ("discover_available_agents", {"specialization": 5}, True),
    (
        "coordinate_multi_agent_workflow",
        {
            "workflow_description": "find then fail",
            "agent_tasks": [
                {"id": "a", "agent_type": "finder", "task": "Find."},
                {"id": "b", "agent_type": "broken", "task": "Fail.", "depends_on": ["a"]},
                {"id": "c", "agent_type": "finder", "task": "Again.", "depends_on": ["b"]},
            ],
            "coordination_mode": "hybrid",
        },
        True,
    ),
    (
        "coordinate_multi_agent_workflow",
        {
            "workflow_description": "two finders",
            "agent_tasks": [
                {"agent_type": "finder", "task": "Find here."},
                {"agent_type": "finder", "task": "Find there."},
            ],
            "coordination_mode": "parallel",
        },
        False,
    ),
    (
        "coordinate_multi_agent_workflow",
        {"workflow_description": "w", "agent_tasks": [{"agent_type": "wizard", "task": "t"}]},
        True,
    ),
    (
        "create_tickets_from_output",
        {
            "output_text": "BUG: src/a.py:3: crash\nTODO: docs",
            "source_agent": "qa",
            "auto_create": True,
        },
        False,
    ),
    ("create_tickets_from_output", {"output_text": "nothing", "source_agent": "qa"}, False),
    ("create_tickets_from_output", {"output_text": 42}, True),
]

FINDER = "print('TODO: ' + 'x' * 600)\nprint('FIXME: y')"
BROKEN = "import sys\nprint('BUG: it broke')\nsys.exit(3)"


def _check(schema: dict[str, Any], content: Any) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(content), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}"[:400] for e in errors[:5])


def test_every_tool_declares_its_output_schema_and_the_schemas_are_valid(project: Path) -> None:
    async def main() -> None:
        async with Client(stdio_params(project)) as client:
            for tool in (await client.list_tools()).tools:
                assert tool.output_schema == OUTPUT_SCHEMAS[tool.name]
                assert tool.output_schema["type"] == "object"
                jsonschema.Draft202012Validator.check_schema(tool.output_schema)

    anyio.run(main)
    assert set(OUTPUT_SCHEMAS) == {t["name"] for t in CLAUDE_PM_TOOLS}


@pytest.mark.parametrize("max_report_bytes", [None, 256], ids=["default", "small-results"])
def test_structured_content_validates_for_results_failures_and_errors(
    project: Path, write_agent: Any, max_report_bytes: int | None
) -> None:
    write_agent("finder", FINDER, specializations=["testing"])
    write_agent("broken", BROKEN)
    env = dict(os.environ)
    if max_report_bytes is not None:
        # Reports cut (read_more), ticket lists cut, workflow task results shortened.
        env.update(
            CLAUDE_PM_MAX_REPORT_BYTES=str(max_report_bytes), CLAUDE_PM_MAX_TICKETS_LISTED="1"
        )

    async def main() -> list[dict[str, Any]]:
        seen = []
        async with Client(stdio_params(project, env)) as client:
            declared = {t.name: t.output_schema for t in (await client.list_tools()).tools}
            for name, arguments, is_error in CALLS:
                result = await client.call_tool(name, arguments)
                assert result.is_error is is_error, (name, arguments, result.structured_content)
                assert result.structured_content is not None
                schema = declared[name]
                assert schema is not None
                _check(schema, result.structured_content)
                seen.append(result.structured_content)
        return seen

    seen = anyio.run(main)
    kinds = {(r.get("success"), "error_type" in r) for r in seen}
    # Each shape was met: results, failed runs (success false, no error_type), error results.
    assert kinds == {(True, False), (False, False), (False, True)}
    if max_report_bytes is not None:
        assert any("read_more" in r for r in seen)
        assert any(r.get("tickets_truncated") for r in seen)
        assert any(t.get("short") for r in seen for t in r.get("task_results", []))


def test_an_error_result_does_not_validate_as_a_success_and_vice_versa() -> None:
    """The two shapes of a schema are told apart: neither admits the other's fields."""
    error = {
        "success": False,
        "error": "Unknown agent type 'wizard'.",
        "error_type": "AgentNotFound",
        "error_details": {"type": "AgentNotFound", "message": "..."},
        "tool": "execute_agent_subprocess",
    }
    for schema in OUTPUT_SCHEMAS.values():
        _check(schema, error)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**error, "success": True}, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**error, "unexpected_field": 1}, schema)
