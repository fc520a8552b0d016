"""A table of hand-written malformed tool calls and the exact error each gets.

The same table is sent through ``ClaudeToolHandler.handle_tool_call``
(``tests/tools/test_bad_input.py``) and through real ``claude-pm mcp`` servers
over stdio and streamable HTTP (``tests/mcp_server/test_bad_input_over_mcp.py``).
Through MCP a call gets the handler's result as its structured content, except
where the transport itself refuses the message (a lone surrogate, nesting the
SDK's parser cannot read): then the answer is the JSON-RPC error in
``refused_by_transport``.

Messages may contain ``{project}``, the project directory the calls run in.
Arguments are plain JSON values; :func:`to_json` writes them without
recursion, so a 100,000-deep value can be sent as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: The project agent the calls name: it echoes its task (most calls never reach it).
ECHO_AGENT = "echo"
ECHO_CODE = "import sys; print(sys.stdin.read()[:60])"

DEEP = 100_000


def nested_dicts(levels: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": ... leaf}}`` with ``levels`` objects, built without recursion."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def nested_lists(levels: int) -> Any:
    """``[[...[]...]]`` with ``levels`` arrays, built without recursion."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def to_json(value: Any) -> str:
    """``value`` as compact JSON (ASCII, surrogates escaped), however deep it is."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            out.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [_Raw("{")]
            for i, (key, child) in enumerate(item.items()):
                parts += [_Raw(("," if i else "") + json.dumps(key) + ":"), child]
            stack.extend(reversed([*parts, _Raw("}")]))
        elif isinstance(item, list):
            parts = [_Raw("[")]
            for i, child in enumerate(item):
                parts += [_Raw(","), child] if i else [child]
            stack.extend(reversed([*parts, _Raw("]")]))
        else:
            out.append(json.dumps(item))
    return "".join(out)


@dataclass(frozen=True)
class _Raw:
    text: str


@dataclass(frozen=True)
class Refusal:
    """The JSON-RPC error a transport answers instead of calling the tool."""

    code: int
    message: str
    field: str


@dataclass(frozen=True)
class BadCall:
    id: str
    tool: str
    arguments: Any
    error_type: str
    field: str | None
    message: str
    refused_by_transport: Refusal | None = None

    def expected_message(self, project: str) -> str:
        return self.message.replace("{project}", project)


_EXECUTE = "execute_agent_subprocess"
_DISCOVER = "discover_available_agents"
_WORKFLOW = "coordinate_multi_agent_workflow"
_TICKETS = "create_tickets_from_output"
_INVALID = "Invalid arguments for "


def _run(**arguments: Any) -> dict[str, Any]:
    return {"agent_type": ECHO_AGENT, "task_description": "check", **arguments}


_TOOLS = (
    "execute_agent_subprocess, discover_available_agents, coordinate_multi_agent_workflow, "
    "create_tickets_from_output"
)
_EXECUTE_FIELDS = (
    "agent_type, budget_usd, context, memory_critical, memory_limit, memory_warning, "
    "task_description, timeout"
)
_ONE_OF = "must be one of 'low', 'medium', 'high', got"


def _surrogate(where: str, shown: str, char: str, index: int) -> str:
    return (
        f"{_INVALID}{_EXECUTE}: {where} ({shown}) contains a lone surrogate ('{char}' at index "
        f"{index}), which is not valid Unicode; send text as valid UTF-8."
    )


def _too_deep(tool: str, field: str, at: str) -> str:
    return (
        f"{_INVALID}{tool}: {field} nests objects and arrays deeper than 64 levels "
        f"(at {at}); send flatter data."
    )


def _refused_too_deep(path: str) -> Refusal:
    return Refusal(
        -32600,
        "Invalid Request: the message nests objects and arrays more than 200 levels deep "
        f"(at {path}); tool arguments may nest at most 64 levels.",
        path,
    )


def _refused_surrogate(path: str) -> Refusal:
    return Refusal(
        -32600,
        f"Invalid Request: {path} contains a lone surrogate, which is not valid Unicode; "
        "send text as valid UTF-8.",
        path,
    )


BAD_CALLS: list[BadCall] = [
    BadCall(
        "unknown tool",
        "deploy_to_prod",
        {},
        "UnknownTool",
        "name",
        f"Unknown tool 'deploy_to_prod'. Use one of: {_TOOLS}.",
    ),
    BadCall(
        "unknown tool with a 100,000-character name",
        "d" * 100_000,
        {},
        "UnknownTool",
        "name",
        # The handler quotes a preview; UnknownTool cuts its repr to 80 characters.
        f"Unknown tool {'d' * 80 + '... (100,000 characters)'!r:.80}. Use one of: {_TOOLS}.",
    ),
    BadCall(
        "arguments an array",
        _EXECUTE,
        [ECHO_AGENT, "check"],
        "InvalidInput",
        "(arguments)",
        f"Arguments for {_EXECUTE} must be a JSON object, got list.",
        Refusal(-32602, "Invalid request parameters", ""),
    ),
    BadCall(
        "task_description missing",
        _EXECUTE,
        {"agent_type": ECHO_AGENT},
        "InvalidInput",
        "task_description",
        f"{_INVALID}{_EXECUTE}: task_description is required but missing.",
    ),
    BadCall(
        "agent_type of 10 MB",
        _EXECUTE,
        {"agent_type": "a" * 10_000_000, "task_description": "check"},
        "InvalidInput",
        "agent_type",
        f"{_INVALID}{_EXECUTE}: agent_type: '{'a' * 80}'... (10,000,000 characters) is longer "
        "than 64 characters.",
    ),
    BadCall(
        "agent_type empty",
        _EXECUTE,
        {"agent_type": "", "task_description": "check"},
        "InvalidInput",
        "agent_type",
        f"{_INVALID}{_EXECUTE}: agent_type: '' should be non-empty (and 1 more problem(s)).",
    ),
    BadCall(
        "agent_type with a trailing newline",
        _EXECUTE,
        {"agent_type": "echo\n", "task_description": "check"},
        "InvalidInput",
        "agent_type",
        f"{_INVALID}{_EXECUTE}: agent_type: 'echo\\n' does not match "
        "'^[A-Za-z0-9][A-Za-z0-9_-]*$'.",
    ),
    BadCall(
        "agent_type a lone surrogate",
        _EXECUTE,
        {"agent_type": "\ud800", "task_description": "check"},
        "InvalidInput",
        "agent_type",
        _surrogate("agent_type", "'\\ud800'", "\\ud800", 0),
        _refused_surrogate("params.arguments.agent_type"),
    ),
    BadCall(
        "task_description with a lone low surrogate",
        _EXECUTE,
        _run(task_description="fix \udfff now"),
        "InvalidInput",
        "task_description",
        _surrogate("task_description", "'fix \\udfff now'", "\\udfff", 4),
        _refused_surrogate("params.arguments.task_description"),
    ),
    BadCall(
        "a context key that is a lone surrogate",
        _EXECUTE,
        _run(context={"\ud83d": 1}),
        "InvalidInput",
        "context",
        f"{_INVALID}{_EXECUTE}: the key '\\ud83d' in context contains a lone surrogate "
        "('\\ud83d' at index 0), which is not valid Unicode; send text as valid UTF-8.",
        _refused_surrogate("params.arguments.context.\\ud83d"),
    ),
    BadCall(
        "a NUL byte in file_paths",
        _EXECUTE,
        _run(context={"file_paths": ["src/a\u0000b.py"]}),
        "ContextError",
        "context.file_paths[0]",
        "context.file_paths[0] 'src/a\\x00b.py' contains a NUL byte, which no file name can "
        "hold; give paths inside the project without NUL.",
    ),
    BadCall(
        "file_paths outside the project",
        _EXECUTE,
        _run(context={"file_paths": ["../../etc/passwd"]}),
        "ContextError",
        "context.file_paths[0]",
        "context.file_paths[0] '../../etc/passwd' is outside project_root '{project}'; "
        "give paths inside the project.",
    ),
    BadCall(
        "file_paths 100,000 characters outside the project",
        _EXECUTE,
        _run(context={"file_paths": ["../" * 33_334]}),
        "ContextError",
        "context.file_paths[0]",
        f"context.file_paths[0] '{('../' * 27)[:80]}... (100,002 characters)' is outside "
        "project_root '{project}'; give paths inside the project.",
    ),
    BadCall(
        "file_paths not a list",
        _EXECUTE,
        _run(context={"file_paths": "src"}),
        "InvalidInput",
        "context.file_paths",
        f"{_INVALID}{_EXECUTE}: context.file_paths must be of type array, got str ('src').",
    ),
    BadCall(
        "context 100,000 levels deep",
        _EXECUTE,
        _run(context=nested_dicts(DEEP)),
        "InvalidInput",
        "context",
        _too_deep(_EXECUTE, "context", "context.a.a.a.a.a..."),
        _refused_too_deep("params.arguments.context.a.a.a.a.a..."),
    ),
    BadCall(
        "context one level deeper than 64 (the arguments object counts)",
        _EXECUTE,
        _run(context=nested_dicts(64)),
        "InvalidInput",
        "context",
        _too_deep(_EXECUTE, "context", "context.a.a.a.a.a..."),
    ),
    BadCall(
        "output_text 100,000 levels deep",
        _TICKETS,
        {"output_text": nested_lists(DEEP), "source_agent": "qa"},
        "InvalidInput",
        "output_text",
        _too_deep(_TICKETS, "output_text", "output_text[0][0][0][0][0]..."),
        _refused_too_deep("params.arguments.output_text[0][0][0][0][0]..."),
    ),
    BadCall(
        "output_text 64 levels deep",
        _TICKETS,
        {"output_text": nested_lists(64), "source_agent": "qa"},
        "InvalidInput",
        "output_text",
        _too_deep(_TICKETS, "output_text", "output_text[0][0][0][0][0]..."),
    ),
    BadCall(
        "output_text 63 levels deep: within the limit, so the schema answers",
        _TICKETS,
        {"output_text": nested_lists(63), "source_agent": "qa"},
        "InvalidInput",
        "output_text",
        f"{_INVALID}{_TICKETS}: output_text must be of type string, got list ([[[...]]]).",
    ),
    BadCall(
        "timeout a word",
        _EXECUTE,
        _run(timeout="soon"),
        "InvalidInput",
        "timeout",
        f"{_INVALID}{_EXECUTE}: timeout must be of type integer, got str ('soon').",
    ),
    BadCall(
        "timeout a boolean",
        _EXECUTE,
        _run(timeout=True),
        "InvalidInput",
        "timeout",
        f"{_INVALID}{_EXECUTE}: timeout must be of type integer, got bool (True).",
    ),
    BadCall(
        "timeout beyond 64 bits",
        _EXECUTE,
        _run(timeout=10**30),
        "InvalidInput",
        "timeout",
        f"{_INVALID}{_EXECUTE}: timeout is {10**30}, beyond the 64-bit integers claude-pm accepts.",
    ),
    BadCall(
        "memory_limit below the minimum",
        _EXECUTE,
        _run(memory_limit=1),
        "InvalidInput",
        "memory_limit",
        f"{_INVALID}{_EXECUTE}: memory_limit: 1 is less than the minimum of 16.",
    ),
    BadCall(
        "memory_warning above memory_limit",
        _EXECUTE,
        _run(memory_warning=5000, memory_limit=100),
        "InvalidInput",
        "memory_warning",
        "memory_warning (5000 MB) must not exceed memory_limit (100 MB).",
    ),
    BadCall(
        "a misspelled field",
        _EXECUTE,
        _run(timout=5),
        "InvalidInput",
        "(arguments)",
        f"{_INVALID}{_EXECUTE}: Additional properties are not allowed ('timout' was "
        f"unexpected) at (arguments); allowed fields are: {_EXECUTE_FIELDS}.",
    ),
    BadCall(
        "an unknown field with a 100,000-character name",
        _EXECUTE,
        _run(**{"x" * 100_000: 1}),
        "InvalidInput",
        "(arguments)",
        f"{_INVALID}{_EXECUTE}: Additional properties are not allowed ('{'x' * 80}'... "
        f"(100,000 characters) was unexpected) at (arguments); allowed fields are: "
        f"{_EXECUTE_FIELDS}.",
    ),
    BadCall(
        "priority not one of the three",
        _EXECUTE,
        _run(context={"priority": "urgent"}),
        "InvalidInput",
        "context.priority",
        f"{_INVALID}{_EXECUTE}: context.priority {_ONE_OF} 'urgent'.",
    ),
    BadCall(
        "priority a 1 MB string",
        _EXECUTE,
        _run(context={"priority": "u" * 1_000_000}),
        "InvalidInput",
        "context.priority",
        f"{_INVALID}{_EXECUTE}: context.priority {_ONE_OF} '{'u' * 80}'... (1,000,000 characters).",
    ),
    BadCall(
        "priority a list of 100,000 items",
        _EXECUTE,
        _run(context={"priority": ["low"] * 100_000}),
        "InvalidInput",
        "context.priority",
        f"{_INVALID}{_EXECUTE}: context.priority must be of type string, got list (['low', "
        "'low', 'low', 'low', ...] (100,000 items)) (and 1 more problem(s)).",
    ),
    BadCall(
        "include_custom a string",
        _DISCOVER,
        {"include_custom": "yes"},
        "InvalidInput",
        "include_custom",
        f"{_INVALID}{_DISCOVER}: include_custom must be of type boolean, got str ('yes').",
    ),
    BadCall(
        "specialization a number",
        _DISCOVER,
        {"specialization": 7},
        "InvalidInput",
        "specialization",
        f"{_INVALID}{_DISCOVER}: specialization must be of type string, got int (7).",
    ),
    BadCall(
        "a workflow without tasks",
        _WORKFLOW,
        {"workflow_description": "w", "agent_tasks": []},
        "InvalidInput",
        "agent_tasks",
        f"{_INVALID}{_WORKFLOW}: agent_tasks: [] should be non-empty.",
    ),
    BadCall(
        "a workflow task without an agent",
        _WORKFLOW,
        {"workflow_description": "w", "agent_tasks": [{"task": "t"}]},
        "InvalidInput",
        "agent_tasks[0].agent_type",
        f"{_INVALID}{_WORKFLOW}: agent_tasks[0].agent_type is required but missing.",
    ),
    BadCall(
        "source_agent empty",
        _TICKETS,
        {"output_text": "TODO: x", "source_agent": ""},
        "InvalidInput",
        "source_agent",
        f"{_INVALID}{_TICKETS}: source_agent: '' should be non-empty.",
    ),
    BadCall(
        "project_root with a NUL byte",
        _EXECUTE,
        _run(context={"project_root": "sub\u0000dir"}),
        "ContextError",
        "context.project_root",
        "context.project_root '{project}/sub\\x00dir' does not exist; pass an existing "
        "project directory.",
    ),
]
