"""The handler never raises and says what to fix: a table of named bad inputs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_pm import CLAUDE_PM_TOOLS, ClaudeToolHandler
from claude_pm.config import load_settings


@pytest.fixture
def handler(project) -> ClaudeToolHandler:
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))


BAD_CALLS: list[tuple[str, str, Any, str, str]] = [
    ("unknown tool", "delete_everything", {}, "name", "Unknown tool"),
    ("params not an object", "execute_agent_subprocess", ["qa"], "(arguments)", "JSON object"),
    (
        "missing task",
        "execute_agent_subprocess",
        {"agent_type": "qa"},
        "task_description",
        "required",
    ),
    (
        "wrong type",
        "execute_agent_subprocess",
        {"agent_type": "qa", "task_description": "x", "timeout": "soon"},
        "timeout",
        "integer",
    ),
    (
        "out of range",
        "execute_agent_subprocess",
        {"agent_type": "qa", "task_description": "x", "memory_limit": 1},
        "memory_limit",
        "minimum",
    ),
    (
        "typo in field",
        "execute_agent_subprocess",
        {"agent_type": "qa", "task_description": "x", "timout": 5},
        "(arguments)",
        "timout",
    ),
    (
        "agent name with a trailing newline",
        "execute_agent_subprocess",
        {"agent_type": "echo\n", "task_description": "x"},
        "agent_type",
        "does not match",
    ),
    (
        "workflow agent name with a trailing newline",
        "coordinate_multi_agent_workflow",
        {"workflow_description": "w", "agent_tasks": [{"agent_type": "qa\n", "task": "t"}]},
        "agent_tasks[0].agent_type",
        "does not match",
    ),
    (
        "bad priority",
        "execute_agent_subprocess",
        {"agent_type": "qa", "task_description": "x", "context": {"priority": "urgent"}},
        "context.priority",
        "one of",
    ),
    (
        "empty task list",
        "coordinate_multi_agent_workflow",
        {"workflow_description": "w", "agent_tasks": []},
        "agent_tasks",
        "minItems",
    ),
    (
        "task without agent",
        "coordinate_multi_agent_workflow",
        {"workflow_description": "w", "agent_tasks": [{"task": "t"}]},
        "agent_tasks[0].agent_type",
        "required",
    ),
    (
        "tickets without source",
        "create_tickets_from_output",
        {"output_text": "TODO: x"},
        "source_agent",
        "required",
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "field", "expected"),
    [case[1:] for case in BAD_CALLS],
    ids=[case[0] for case in BAD_CALLS],
)
def test_bad_calls_return_errors_naming_the_field(handler, name, params, field, expected):
    result = handler.handle_tool_call(name, params)
    assert result["success"] is False
    assert expected.lower() in result["error"].lower() or expected in str(result["error_details"])
    assert result["error_details"].get("field") == field


def test_a_workflow_with_problems_is_refused_before_anything_runs(handler):
    result = handler.handle_tool_call(
        "coordinate_multi_agent_workflow",
        {
            "workflow_description": "w",
            "agent_tasks": [
                {"agent_type": "wizard", "task": "t"},
                {"agent_type": "qa", "task": "t", "dependencies": ["nobody"]},
            ],
        },
    )
    assert result["error_type"] == "WorkflowInvalid"
    problems = result["error_details"]["problems"]
    assert len(problems) == 2
    assert "wizard" in problems[0] and "nobody" in problems[1]


def test_bad_framework_context_is_reported_by_the_call_not_raised():
    handler = ClaudeToolHandler({"project_root": "/nonexistent/claude-pm-root"})
    result = handler.handle_tool_call("discover_available_agents", {})
    assert result["success"] is False
    assert "does not exist" in result["error"]


def test_tool_definitions_are_valid_json_schema():
    from jsonschema import Draft202012Validator

    assert [t["name"] for t in CLAUDE_PM_TOOLS] == [
        "execute_agent_subprocess",
        "discover_available_agents",
        "coordinate_multi_agent_workflow",
        "create_tickets_from_output",
    ]
    for tool in CLAUDE_PM_TOOLS:
        Draft202012Validator.check_schema(tool["parameters"])
        assert tool["parameters"]["type"] == "object"
        assert len(tool["description"]) > 40


def _schema_patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _schema_patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _schema_patterns(value)]
    return []


@given(text=st.text(alphabet="ab_-9\n\r Z", max_size=8))
def test_patterns_have_ecma_end_of_input_semantics(text: str) -> None:
    """``$`` matches only at the very end, never before a final newline (ECMA-262)."""
    from claude_pm.tools.validation import ecma_pattern

    patterns = _schema_patterns(CLAUDE_PM_TOOLS)
    assert patterns, "the schemas publish at least the agent_type pattern"
    for pattern in patterns:
        assert pattern.endswith("$"), "each published pattern is anchored with ECMA's $"
        body = pattern.removeprefix("^").removesuffix("$")
        expected = re.fullmatch(body, text) is not None
        assert (ecma_pattern(pattern).search(text) is not None) == expected


def test_class_and_escaped_dollars_are_kept() -> None:
    from claude_pm.tools.validation import ecma_pattern

    assert ecma_pattern(r"^a[$]b\$$").pattern == r"^a[$]b\$\Z"
    assert ecma_pattern(r"^[\]$]x$").pattern == r"^[\]$]x\Z"
