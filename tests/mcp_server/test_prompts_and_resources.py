"""The server's prompts and resources through the real MCP client.

Every server here is a real ``python -m claude_pm mcp`` process (stdio) on a
project whose tickets and runs are made by real tool calls.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_servers import stdio_params

from claude_pm.mcp_server.resources import LISTED_TICKETS
from claude_pm.tools import resource_uris as uris
from claude_pm.workflow.recipes import REVIEW_AGENTS, review_workflow

#: An agent writing a report of more than two pages, with characters of 2, 3 and 4 bytes
#: in UTF-8 all along (so page bounds fall inside them), and a line on stderr.
LONG_REPORT = """
import sys
line = "report é € 🦊 " * 8 + "\\n"
out = sys.stdout.buffer
n = 0
while n < 150_000:
    out.write(line.encode("utf-8"))
    n += len(line.encode("utf-8"))
out.write("TODO: the end of the long report\\n".encode("utf-8"))
out.flush()
sys.stderr.write("warning: éé on stderr\\n")
"""

FINDINGS = "\n".join(
    [
        *(f"TODO: chore number {i}" for i in range(LISTED_TICKETS + 3)),
        "BUG: src/app.py:12: crash on empty input",
        "SECURITY: src/auth.py:7: token compared in non-constant time",
    ]
)


def _text(result: Any) -> str:
    [message] = result.messages
    assert message.role == "user"
    text: str = message.content.text
    return text


def _embedded_json(text: str) -> Any:
    match = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert match is not None, text
    return json.loads(match.group(1))


async def _refused(client: Client, uri: str) -> str:
    with pytest.raises(MCPError) as info:
        await client.read_resource(uri)
    return info.value.message


def test_prompts_are_listed_and_review_embeds_the_review_workflow(project: Path) -> None:
    async def main() -> None:
        async with Client(stdio_params(project)) as client:
            listed = {p.name: p for p in (await client.list_prompts()).prompts}
            assert list(listed) == ["review", "triage"]
            [agents] = listed["review"].arguments or []
            assert agents.name == "agents" and not agents.required
            assert not listed["triage"].arguments

            default = _text(await client.get_prompt("review"))
            assert "coordinate_multi_agent_workflow" in default
            assert _embedded_json(default) == review_workflow(REVIEW_AGENTS)
            assert "by priority" in default

            chosen = _text(await client.get_prompt("review", {"agents": " qa, security "}))
            assert _embedded_json(chosen) == review_workflow(["qa", "security"])
            blank = _text(await client.get_prompt("review", {"agents": ""}))
            assert _embedded_json(blank) == review_workflow(REVIEW_AGENTS)

            with pytest.raises(MCPError) as unknown_agent:
                await client.get_prompt("review", {"agents": "qa,wizard"})
            assert "Unknown agent type 'wizard'" in unknown_agent.value.message
            assert "security" in unknown_agent.value.message
            with pytest.raises(MCPError) as unknown_prompt:
                await client.get_prompt("deploy")
            assert "offers: review, triage" in unknown_prompt.value.message
            with pytest.raises(MCPError) as unknown_argument:
                await client.get_prompt("triage", {"agents": "qa"})
            assert "takes no arguments" in unknown_argument.value.message

    anyio.run(main)


def test_triage_and_the_tickets_resources_list_open_tickets_bounded_highest_first(
    project: Path,
) -> None:
    async def main() -> None:
        async with Client(stdio_params(project)) as client:
            empty = _text(await client.get_prompt("triage"))
            assert "no open tickets" in empty

            filed = await client.call_tool(
                "create_tickets_from_output",
                {"output_text": FINDINGS, "source_agent": "qa", "auto_create": True},
            )
            assert filed.structured_content is not None
            total = LISTED_TICKETS + 5
            assert filed.structured_content["tickets_created_count"] == total

            triage = _text(await client.get_prompt("triage"))
            assert f"{total} in all; the first {LISTED_TICKETS}" in triage
            listed = re.findall(r"^- (PM-\d+) \[(\w+)\] (\w+): (.*)$", triage, re.MULTILINE)
            assert len(listed) == LISTED_TICKETS
            # The two high ones first (by id), then the low ones.
            assert [p for _, p, _, _ in listed[:2]] == ["high", "high"]
            assert listed[0][2:] == ("bug", "crash on empty input (src/app.py:12)")
            assert listed[1][2] == "security"
            assert {p for _, p, _, _ in listed[2:]} == {"low"}
            assert "and 5 more open tickets" in triage
            assert "propose the agent that should take it" in triage

            [page] = (await client.read_resource(uris.TICKETS_URI)).contents
            assert page.mime_type == "application/json"
            listing = json.loads(page.text)  # type: ignore[union-attr]
            assert listing["open_tickets"] == total and listing["listed"] == LISTED_TICKETS
            assert [t["id"] for t in listing["tickets"]] == [t[0] for t in listed]
            assert "5 more open tickets" in listing["read_more"]
            first = listing["tickets"][0]
            assert first["uri"] == uris.ticket_uri(first["id"])

            [one] = (await client.read_resource(first["uri"])).contents
            ticket = json.loads(one.text)  # type: ignore[union-attr]
            assert ticket["id"] == first["id"] and ticket["type"] == "bug"
            assert (ticket["file"], ticket["line"]) == ("src/app.py", 12)
            assert ticket["lines"][0]["line"] == 12 and ticket["lines_count"] == 1
            # Lower case and a bare number name the same ticket.
            lower = (await client.read_resource("claude-pm://tickets/pm-1")).contents[0]
            assert json.loads(lower.text)["id"] == "PM-1"  # type: ignore[union-attr]

            assert "No ticket PM-999" in await _refused(client, "claude-pm://tickets/PM-999")
            assert "is not a ticket id" in await _refused(client, "claude-pm://tickets/abc")

    anyio.run(main)


def test_a_runs_report_reads_back_whole_page_by_page_and_bad_run_ids_are_refused(
    project: Path, write_agent: Any
) -> None:
    write_agent("long-report", LONG_REPORT)
    stdout_path: list[str] = []
    read: list[str] = []
    sizes: set[int] = set()

    async def main() -> None:
        async with Client(stdio_params(project)) as client:
            ran = await client.call_tool(
                "execute_agent_subprocess",
                {"agent_type": "long-report", "task_description": "Write a long report."},
            )
            run = ran.structured_content
            assert run is not None and run["success"] is True and run["output_truncated"]
            run_id = run["run_id"]
            assert uris.run_log_uri(run_id) in run["read_more"]
            assert f"claude-pm runs show {run_id}" in run["read_more"]

            stdout_path.append(run["log_paths"]["stdout"])
            pages: list[str] = []
            uri: str | None = uris.run_log_uri(run_id)
            while uri is not None:
                page, note = (await client.read_resource(uri)).contents
                assert page.mime_type == "text/plain"
                meta = page.meta or {}
                assert meta["page"] == len(pages) + 1
                sizes.add(meta["size_bytes"])
                assert f"page {meta['page']} of {meta['pages']}" in note.text  # type: ignore[union-attr]
                pages.append(page.text)  # type: ignore[union-attr]
                uri = meta.get("next_uri")
                if uri is not None:
                    assert f"Next page: {uri}" in note.text  # type: ignore[union-attr]
            read.extend(pages)

            # Page 2 by its own URI is the second page.
            again = (await client.read_resource(uris.run_log_uri(run_id, page=2))).contents[0]
            assert again.text == pages[1]  # type: ignore[union-attr]
            stderr = (await client.read_resource(uris.run_log_uri(run_id, "stderr"))).contents
            assert stderr[0].text == "warning: éé on stderr\n"  # type: ignore[union-attr]
            assert "This is the last page." in stderr[1].text  # type: ignore[union-attr]

            beyond = await _refused(client, uris.run_log_uri(run_id, page=len(pages) + 1))
            assert f"has {len(pages)} page(s)" in beyond
            assert uris.run_log_uri(run_id, page=len(pages)) in beyond
            unknown = await _refused(client, "claude-pm://runs/20990101T000000Z-deadbeef/report")
            assert "No run '20990101T000000Z-deadbeef' is recorded" in unknown
            assert run_id in unknown  # the recent runs are named
            for sneaky in (
                "claude-pm://runs/../../etc/passwd/report",
                "claude-pm://runs/..%2F..%2Fetc%2Fpasswd/report",
                f"claude-pm://runs/{run_id}/report/0",
                f"claude-pm://runs/{run_id}/logs",
                "file:///etc/passwd",
            ):
                message = await _refused(client, sneaky)
                assert "claude-pm serves:" in message or "no page 0" in message, message

    anyio.run(main)
    stdout = Path(stdout_path[0]).read_bytes()
    assert sizes == {len(stdout)}
    assert len(read) == -(-len(stdout) // uris.PAGE_BYTES) >= 3
    assert "".join(read).encode("utf-8") == stdout
    assert all(len(p.encode("utf-8")) <= uris.PAGE_BYTES + 3 for p in read)


def test_agents_resource_templates_and_listing(project: Path, write_agent: Any) -> None:
    write_agent("todo-finder", "print('TODO: x')", description="Finds open work.")

    async def main() -> None:
        async with Client(stdio_params(project)) as client:
            templates = (await client.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {
                uris.TICKET_TEMPLATE,
                uris.RUN_REPORT_TEMPLATE,
                uris.RUN_REPORT_PAGE_TEMPLATE,
                uris.RUN_STDERR_TEMPLATE,
                uris.RUN_STDERR_PAGE_TEMPLATE,
                uris.AGENT_TEMPLATE,
            }
            await client.call_tool(
                "execute_agent_subprocess",
                {"agent_type": "todo-finder", "task_description": "Find."},
            )
            listed = {str(r.uri): r for r in (await client.list_resources()).resources}
            assert uris.TICKETS_URI in listed
            assert {uris.agent_uri("qa"), uris.agent_uri("todo_finder")} <= listed.keys()
            reports = [u for u in listed if u.endswith("/report")]
            assert len(reports) == 1 and "todo_finder (completed)" in (
                listed[reports[0]].description or ""
            )

            [agent] = (await client.read_resource(uris.agent_uri("todo-finder"))).contents
            definition = json.loads(agent.text)  # type: ignore[union-attr]
            assert definition["type"] == "todo_finder" and definition["tier"] == "project"
            assert definition["description"] == "Finds open work."
            assert definition["system_prompt"] == "Test agent."
            qa = json.loads((await client.read_resource(uris.agent_uri("qa"))).contents[0].text)  # type: ignore[union-attr]
            assert qa["tier"] == "shipped" and qa["system_prompt"]

            wizard = await _refused(client, uris.agent_uri("wizard"))
            assert "Unknown agent type 'wizard'" in wizard and "todo_finder" in wizard

    anyio.run(main)


def test_the_docs_name_every_prompt_and_resource_the_server_offers() -> None:
    from claude_pm.mcp_server.prompts import PROMPTS
    from claude_pm.mcp_server.resources import TEMPLATES

    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "mcp.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    for name in PROMPTS:
        assert f"`{name}`" in docs and f"/mcp__claude-pm__{name}" in readme
    for uri in [uris.TICKETS_URI, *(t.uri_template for t in TEMPLATES)]:
        assert f"`{uri}`" in docs
        # The README's table folds the stderr templates into one line.
        assert f"`{uri}`" in readme or "/stderr" in uri
