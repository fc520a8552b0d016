"""The server's tools through the real MCP client: listing, results, errors, progress, cancel.

Every server here is a real ``python -m claude_pm mcp`` process (stdio).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_servers import SLEEPER, await_for, sleeper_pids, stdio_params

from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS
from waiting import alive


def test_stdio_lists_exactly_the_four_schemas_and_reports_errors_as_tool_errors(
    project: Path,
) -> None:
    async def main() -> None:
        async with Client(stdio_params(project)) as client:
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == [t["name"] for t in CLAUDE_PM_TOOLS]
            for tool, source in zip(listed, CLAUDE_PM_TOOLS, strict=True):
                assert tool.input_schema == source["parameters"]
                assert tool.description == source["description"]
                assert tool.annotations is not None
            assert listed[1].annotations.read_only_hint is True  # type: ignore[union-attr]

            ok = await client.call_tool(
                "create_tickets_from_output",
                {"output_text": "BUG: crash on empty input", "source_agent": "qa"},
            )
            assert ok.is_error is False
            assert ok.structured_content is not None
            assert ok.structured_content["tickets_found"] == 1
            assert json.loads(ok.content[0].text) == ok.structured_content  # type: ignore[union-attr]

            bad = await client.call_tool("create_tickets_from_output", {"output_text": 42})
            assert bad.is_error is True
            text = bad.content[0].text  # type: ignore[union-attr]
            assert text.startswith("Error: Invalid arguments for create_tickets_from_output")
            assert "source_agent" in text
            assert bad.structured_content is not None
            assert bad.structured_content["error_type"] == "InvalidInput"

            unknown = await client.call_tool("deploy_to_prod", {})
            assert unknown.is_error is True
            assert "Use one of: execute_agent_subprocess" in unknown.content[0].text  # type: ignore[union-attr]

            workflow = await client.call_tool(
                "coordinate_multi_agent_workflow",
                {
                    "workflow_description": "w",
                    "agent_tasks": [{"agent_type": "wizard", "task": "t"}],
                },
            )
            assert workflow.is_error is True
            assert "Unknown agent type 'wizard'" in workflow.content[0].text  # type: ignore[union-attr]

            still_there = await client.list_tools()
            assert len(still_there.tools) == 4

    anyio.run(main)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_stdio_progress_then_cancel_kills_the_agent_tree(
    project: Path, write_agent: Any, mode: str
) -> None:
    write_agent("sleeper", SLEEPER)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def main() -> None:
        async with Client(stdio_params(project), mode=mode) as client:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await client.call_tool(
                        "execute_agent_subprocess",
                        {"agent_type": "sleeper", "task_description": "wait", "timeout": 300},
                        progress_callback=on_progress,
                    )
                    pytest.fail("the call should have been cancelled")

                tg.start_soon(call)
                await await_for(lambda: (project / "sleeper.pids").exists(), "the agent")
                await await_for(lambda: bool(progress), "a progress notification")
                tg.cancel_scope.cancel()

            pids = sleeper_pids(project)
            await await_for(lambda: not any(alive(p) for p in pids), "the agent tree to die")
            # The server survives a cancelled call and keeps serving.
            after = await client.call_tool("deploy_to_prod", {})
            assert after.is_error is True

    anyio.run(main)
    _, total, message = progress[0]
    assert total == 300
    assert message and message.startswith("sleeper:")
    assert all(a[0] < b[0] for a, b in itertools.pairwise(progress))


def test_importing_the_package_leaves_the_sdk_unimported() -> None:
    code = (
        "import sys; from claude_pm.mcp_server import HttpOptions, InFlightCalls, is_loopback, "
        "run_stdio, run_http, build_server; "
        "heavy = ('mcp', 'mcp_types', 'anyio', 'uvicorn', 'starlette'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_discovery_over_mcp_is_the_handlers_and_follows_changes_while_an_agent_runs(
    project: Path, write_agent: Any
) -> None:
    """Discovery is served beside a running agent, equals the handler's, and sees a new file."""
    write_agent("sleeper", SLEEPER)
    handler = ClaudeToolHandler(settings=load_settings(project_root=project))

    async def main() -> None:
        async with Client(stdio_params(project)) as client, anyio.create_task_group() as tg:

            async def run_sleeper() -> None:
                await client.call_tool(
                    "execute_agent_subprocess",
                    {"agent_type": "sleeper", "task_description": "wait", "timeout": 300},
                )

            tg.start_soon(run_sleeper)
            await await_for(lambda: (project / "sleeper.pids").exists(), "the agent")
            first = await client.call_tool("discover_available_agents", {})
            assert first.structured_content == handler.handle_tool_call(
                "discover_available_agents", {}
            )
            again = await client.call_tool("discover_available_agents", {})
            assert again.structured_content == first.structured_content
            assert again.content == first.content

            write_agent("newcomer", "print('hi')", description="Arrived later.")
            later = await client.call_tool("discover_available_agents", {})
            assert later.structured_content is not None
            types = {a["type"]: a for a in later.structured_content["available_agents"]}
            assert types["newcomer"]["description"] == "Arrived later."
            assert later.structured_content == handler.handle_tool_call(
                "discover_available_agents", {}
            )
            assert json.loads(later.content[0].text) == later.structured_content  # type: ignore[union-attr]
            tg.cancel_scope.cancel()

        pids = sleeper_pids(project)
        await await_for(lambda: not any(alive(p) for p in pids), "the agent tree to die")

    anyio.run(main)
