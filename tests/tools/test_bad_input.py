"""Malformed calls through the Python API: each gets its exact structured error, never a crash.

The table is :data:`bad_calls.BAD_CALLS`; the MCP transports get the same
table in ``tests/mcp_server/test_bad_input_over_mcp.py``. Beyond it: an error
never carries a value at full length, and no JSON value whatever makes the
handler raise or answer "Internal error".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bad_calls import BAD_CALLS, ECHO_AGENT, ECHO_CODE, BadCall, nested_dicts
from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.errors import ClaudePMError
from claude_pm.testing import write_python_agent
from claude_pm.tools.validation import MAX_ARGUMENT_DEPTH, clip, preview

#: No error result needs more than this many bytes of JSON, however large the input.
ERROR_RESULT_MAX_BYTES = 4096


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    write_python_agent(project, ECHO_AGENT, ECHO_CODE)
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ={}))


def _encoded(result: dict[str, Any]) -> bytes:
    """The result as UTF-8 JSON: what a transport must be able to send."""
    return json.dumps(result, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c.id for c in BAD_CALLS])
def test_each_malformed_call_gets_its_exact_error(
    handler: ClaudeToolHandler, project: Path, case: BadCall
) -> None:
    result = handler.handle_tool_call(case.tool, case.arguments)

    assert result["success"] is False
    assert result["error_type"] == case.error_type
    assert result["error_details"].get("field") == case.field
    assert result["error"] == case.expected_message(str(project.resolve()))
    assert len(_encoded(result)) <= ERROR_RESULT_MAX_BYTES


def test_the_table_covers_enough_distinct_cases() -> None:
    assert len(BAD_CALLS) >= 25
    assert len({c.id for c in BAD_CALLS}) == len(BAD_CALLS)


def test_a_long_task_is_echoed_clipped_in_an_error(handler: ClaudeToolHandler) -> None:
    task = "t" * 1_000_000
    result = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "summoner", "task_description": task}
    )
    assert result["error_type"] == "AgentNotFound"
    assert result["error"].startswith("Unknown agent type 'summoner'.")
    assert result["agent_type"] == "summoner"
    assert result["task_description"] == "t" * 200
    assert len(_encoded(result)) <= ERROR_RESULT_MAX_BYTES


def test_a_short_task_is_echoed_whole(handler: ClaudeToolHandler) -> None:
    result = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "summoner", "task_description": "Summon."}
    )
    assert result["task_description"] == "Summon."


def test_an_echoed_surrogate_is_escaped(handler: ClaudeToolHandler) -> None:
    result = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "qa", "task_description": "a\ud800b"}
    )
    assert result["error_type"] == "InvalidInput"
    assert result["task_description"] == "a\\ud800b"
    _encoded(result)


def test_nesting_up_to_the_limit_reaches_the_agent(handler: ClaudeToolHandler) -> None:
    # The arguments object is level 1, so context may hold 63 more levels.
    result = handler.handle_tool_call(
        "execute_agent_subprocess",
        {
            "agent_type": ECHO_AGENT,
            "task_description": "deep but allowed",
            "context": nested_dicts(MAX_ARGUMENT_DEPTH - 1),
        },
    )
    assert result["success"] is True, result
    assert result["output"].startswith("deep but allowed")


def test_text_beyond_the_bmp_is_text_not_an_error(handler: ClaudeToolHandler) -> None:
    # JSON writes it as the surrogate pair "\ud83d\ude80"; decoded, it is one code point.
    assert json.loads('"\\ud83d\\ude80"') == "\U0001f680"
    result = handler.handle_tool_call(
        "create_tickets_from_output",
        {"output_text": "TODO: ship the \U0001f680 emoji", "source_agent": "qa"},
    )
    assert result["success"] is True, result
    assert result["tickets_found"] == 1


def test_an_unknown_tool_name_that_is_not_text_is_refused(handler: ClaudeToolHandler) -> None:
    result = handler.handle_tool_call(["not", "a", "name"], {})  # type: ignore[arg-type]
    assert result["error_type"] == "UnknownTool"
    assert result["error"].startswith("Unknown tool \"['not', 'a', 'name']\".")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("short", "'short'"),
        ("a" * 81, f"'{'a' * 80}'... (81 characters)"),
        ("\ud800x", "'\\ud800x'"),
        ("nul\x00", "'nul\\x00'"),
        (["low"] * 5, "['low', 'low', 'low', 'low', ...] (5 items)"),
        ({"a": {"b": {"c": 1}}}, "{'a': {'b': {...}}}"),
        (10**400, "<1329-bit integer>"),
        (None, "None"),
    ],
)
def test_preview_quotes_a_prefix_and_the_size(value: Any, shown: str) -> None:
    assert preview(value) == shown


def test_preview_never_recurses_into_a_deep_value() -> None:
    assert preview(nested_dicts(100_000)) == "{'a': {'a': {...}}}"


def test_clip_keeps_short_text_and_escapes_what_utf8_cannot_carry() -> None:
    assert clip("fine") == "fine"
    assert clip("x" * 100, 10) == "xxxxxxxxxx... (100 characters)"
    assert clip("odd\udcff.md") == "odd\\udcff.md"
    clip("odd\udcff.md").encode("utf-8")


#: Any code point, lone surrogates and NUL included (st.text leaves surrogates out).
_CHAR = st.one_of(
    st.characters(), st.characters(categories=["Cs"]), st.sampled_from(["\x00", "\U0001f680"])
)
_TEXT = st.lists(_CHAR, max_size=20).map("".join)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=30,
)


def _error_names(cls: type[BaseException]) -> set[str]:
    return {cls.__name__}.union(*(_error_names(sub) for sub in cls.__subclasses__()))


#: The structured errors: anything else in error_type is an internal error.
_ERROR_TYPES = _error_names(ClaudePMError)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tool=st.sampled_from(
        ["discover_available_agents", "create_tickets_from_output", "execute_agent_subprocess"]
    ),
    arguments=st.dictionaries(
        st.sampled_from(
            [
                "agent_type",
                "output_text",
                "source_agent",
                "auto_create",
                "specialization",
                "context",
                "timeout",
            ]
        )
        | _TEXT,
        _JSON,
        max_size=4,
    ),
)
def test_no_json_value_makes_the_handler_raise_or_fail_internally(
    handler: ClaudeToolHandler, tool: str, arguments: dict[str, Any]
) -> None:
    if arguments.get("agent_type") == ECHO_AGENT:
        arguments["agent_type"] = "not-an-agent"
    _check_never_internal(handler.handle_tool_call(tool, arguments))


def _check_never_internal(result: dict[str, Any]) -> None:
    assert isinstance(result, dict)
    if "error" in result:
        assert result["error_type"] in _ERROR_TYPES, result["error"]
        assert len(_encoded(result)) <= ERROR_RESULT_MAX_BYTES
    else:
        _encoded(result)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(task=_TEXT, context_text=_TEXT, output=_TEXT, source=_TEXT, store=st.booleans())
def test_any_text_in_well_formed_calls_is_served_or_refused_never_crashes(
    handler: ClaudeToolHandler, task: str, context_text: str, output: str, source: str, store: bool
) -> None:
    """Text that reaches an agent, a hand-off file or the ticket store, with any code points."""
    _check_never_internal(
        handler.handle_tool_call(
            "execute_agent_subprocess",
            {
                "agent_type": ECHO_AGENT,
                "task_description": task or "t",
                "context": {"user_requirements": context_text, context_text or "k": 1},
                "timeout": 30,
            },
        )
    )
    _check_never_internal(
        handler.handle_tool_call(
            "create_tickets_from_output",
            {
                "output_text": f"TODO: {output}",
                "source_agent": source or "qa",
                "auto_create": store,
            },
        )
    )
