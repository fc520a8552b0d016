"""claude-pm's MCP server driven by the real Claude Code CLI, offline.

The CLI is the one bundled in the ``claude-agent-sdk`` wheel; the tests skip
where it is not installed. It runs non-interactively (``--print``, with a
prompt or streaming JSON, as the Agent SDK drives it) against a scripted
Messages API on 127.0.0.1 (:mod:`fakes.claude_code_api`) and starts the real
``python -m claude_pm mcp`` server from an ``--mcp-config`` file, exactly as a
user's Claude Code would. The scripted model finds the tools through Claude
Code's tool search (MCP tools are deferred: only their names reach the model
until it searches), calls them, and the tests check what came back to the
model, what landed in the project's SQLite state, and that the server and its
agents are gone once Claude Code has exited or been interrupted.

Nothing leaves loopback: the fake is also the CLI's HTTPS proxy, and every
attempt to reach another host is refused and counted (``other_paths``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

import claude_pm
from claude_pm.config import load_settings
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS
from claude_pm.workflow.recipes import review_workflow
from fakes.claude_code_api import (
    TOOL_SEARCH,
    ClaudeCode,
    FakeClaudeCodeAPI,
    Turn,
    result_text,
    tool_names,
    tool_results,
)
from fakes.messages_api import Scripted, message, text, tool_use
from waiting import alive, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.claude_code]

DEADLINE_S = 30.0

SERVER = "claude-pm"
DISCOVER = f"mcp__{SERVER}__discover_available_agents"
EXECUTE = f"mcp__{SERVER}__execute_agent_subprocess"
SCHEMAS = {tool["name"]: tool for tool in CLAUDE_PM_TOOLS}

#: A project agent that reports one open item.
TODO_FINDER = """
import sys
print("scanned for: " + sys.stdin.read().strip())
print("TODO: document the release checklist")
"""

#: An agent that starts a grandchild, writes both pids, then waits to be stopped.
SLEEPER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open("sleeper.pids.tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.replace("sleeper.pids.tmp", "sleeper.pids")
time.sleep(300)
"""

#: The sleeper, but it and its child ignore SIGTERM: only SIGKILL stops them.
STUBBORN = SLEEPER.replace(
    "import os, subprocess, sys, time\n",
    "import os, signal, subprocess, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n",
).replace('"import time;', '"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);')
#: Claude Code stops a server with SIGINT, SIGTERM 100 ms later, SIGKILL 400 ms after that.
STUBBORN_DEADLINE_S = 6.0


def _bundled_cli() -> Path:
    try:
        import claude_agent_sdk
    except ImportError:
        pytest.skip("claude-agent-sdk (which bundles the Claude Code CLI) is not installed")
    cli = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if not os.access(cli, os.X_OK):
        pytest.skip(f"claude-agent-sdk has no bundled Claude Code CLI at {cli}")
    return cli


@pytest.fixture(scope="module")
def claude_cli() -> Path:
    return _bundled_cli()


def _servers_under(pid: int) -> list[int]:
    """The pids of the claude-pm MCP servers among a process's descendants."""
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if "claude_pm" in argv and "mcp" in argv:
            found.append(proc.pid)
    return found


MakeSession = Callable[..., ClaudeCode]


@pytest.fixture
def claude_code(
    claude_cli: Path, project: Path, isolated_home: Path, tmp_path: Path
) -> Iterator[MakeSession]:
    """``claude_code(fake, prompt=None, debug_file=None)``: a session with claude-pm's server.

    With a prompt the session runs in print mode; without one it streams JSON.
    """
    config = tmp_path / "mcp.json"
    # The sleeper agents report host pids for the test to watch: no PID namespace (conftest).
    server_env = {
        "PYTHONPATH": str(Path(claude_pm.__file__).resolve().parents[1]),
        "CLAUDE_PM_SANDBOX": "off",
    }
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    SERVER: {
                        "type": "stdio",
                        "command": sys.executable,
                        "args": ["-m", "claude_pm", "--project", str(project), "mcp"],
                        "env": server_env,
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    sessions: list[ClaudeCode] = []

    def make(
        fake: FakeClaudeCodeAPI, prompt: str | None = None, debug_file: Path | None = None
    ) -> ClaudeCode:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(isolated_home),
            "CLAUDE_CONFIG_DIR": str(isolated_home / ".claude"),
            "TMPDIR": str(scratch),
            "LANG": "C.UTF-8",
            "ANTHROPIC_BASE_URL": fake.url,
            "ANTHROPIC_API_KEY": "test-key-not-a-secret",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            # Deferred MCP tools and tool search, as users get them. Pinned: the docs say a
            # non-Anthropic base URL turns it off by default (2.1.332 keeps it on anyway).
            "ENABLE_TOOL_SEARCH": "true",
            # Anything that would leave loopback goes to the fake, which refuses and counts it.
            "HTTPS_PROXY": fake.url,
            "HTTP_PROXY": fake.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        argv = [str(claude_cli), "--print"]
        if prompt is None:
            argv += ["--input-format", "stream-json", "--output-format", "stream-json"]
            argv += ["--verbose"]
        else:
            argv += [prompt, "--output-format", "json"]
        argv += ["--mcp-config", str(config), "--strict-mcp-config"]
        argv += ["--allowedTools", f"mcp__{SERVER}__*", "--no-session-persistence"]
        if debug_file is not None:
            argv += ["--debug-file", str(debug_file)]
        sessions.append(ClaudeCode(argv, env, project, tmp_path / f"claude-{len(sessions)}.err"))
        return sessions[-1]

    yield make
    for session in sessions:
        session.kill()


def _tool_search(query: str) -> Turn:
    return message(tool_use(TOOL_SEARCH, {"query": query}))


def _only_result(request: dict[str, Any]) -> dict[str, Any]:
    results = tool_results(request)
    assert len(results) == 1, results
    return results[0]


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_claude_code_finds_the_tools_runs_an_agent_and_files_its_ticket(
    claude_code: MakeSession,
    project: Path,
    write_agent: Any,
) -> None:
    write_agent("todo-finder", TODO_FINDER, description="Finds open work in the project.")
    servers: list[int] = []
    session: list[ClaudeCode] = []

    def discover(request: dict[str, Any]) -> Scripted:
        servers.extend(_servers_under(session[0].pid))
        return message(tool_use(DISCOVER, {}))

    turns: list[Turn] = [
        _tool_search("+claude-pm agents"),
        discover,
        message(
            tool_use(
                EXECUTE,
                {
                    "agent_type": "todo-finder",
                    "task_description": "List the open work in src/",
                    "timeout": 60,
                    "memory_limit": 256,
                },
            )
        ),
        message(text("todo-finder filed PM-1.")),
    ]
    with FakeClaudeCodeAPI(turns) as fake:
        session.append(claude_code(fake, "Use claude-pm to find the open work."))
        result = session[0].run()

    assert result["is_error"] is False, result
    assert result["result"] == "todo-finder filed PM-1."
    assert result["permission_denials"] == []
    assert fake.unexpected == 0
    assert fake.other_paths == [], "Claude Code tried to leave loopback"

    # (a) Deferred at first: the model sees the names only, and finds them with tool search.
    first = fake.main_request(0)
    assert DISCOVER not in tool_names(first) and EXECUTE not in tool_names(first)
    assert DISCOVER in json.dumps(first["messages"]) and EXECUTE in json.dumps(first["messages"])
    found = _only_result(fake.main_request(1))
    references = [b.get("tool_name") for b in found["content"] if b["type"] == "tool_reference"]
    assert DISCOVER in references and EXECUTE in references
    loaded = {t["name"]: t for t in fake.main_request(1)["tools"]}
    for name in (DISCOVER, EXECUTE):
        ours = SCHEMAS[name.rsplit("__", 1)[1]]
        assert loaded[name]["input_schema"] == ours["parameters"]
        assert loaded[name]["description"] == ours["description"]

    # (b) discover_available_agents: the project agent, from the project tier.
    discovered = _only_result(fake.main_request(2))
    assert not discovered.get("is_error")
    agents = {a["type"]: a for a in json.loads(result_text(discovered))["available_agents"]}
    assert agents["todo_finder"]["tier"] == "project"
    assert agents["todo_finder"]["description"] == "Finds open work in the project."
    assert {"qa", "security", "documentation"} <= agents.keys()

    # (c) execute_agent_subprocess: the agent really ran, and its TODO became ticket PM-1.
    executed = _only_result(fake.main_request(3))
    assert not executed.get("is_error")
    run = json.loads(result_text(executed))
    assert run["success"] is True and run["status"] == "completed" and run["exit_code"] == 0
    assert "scanned for: List the open work in src/" in run["output"]
    assert "TODO: document the release checklist" in run["output"]
    assert run["tickets_created"] == ["PM-1"]

    db = project / ".claude-pm" / "state.db"
    tickets = _rows(db, "SELECT seq, type, priority, title, source_agent, source_run FROM tickets")
    assert tickets == [
        (1, "task", "low", "document the release checklist", "todo_finder", run["run_id"])
    ]
    assert _rows(db, "SELECT run_id, status, exit_code FROM runs") == [
        (run["run_id"], "completed", 0)
    ]
    assert len(servers) == 1, "Claude Code should have started one claude-pm server"
    wait_for(lambda: not alive(servers[0]), "the MCP server to exit with Claude Code")


def test_an_unknown_agent_comes_back_to_claude_as_a_tool_error_naming_the_valid_ones(
    claude_code: MakeSession,
    project: Path,
    write_agent: Any,
) -> None:
    write_agent("todo-finder", TODO_FINDER)
    turns: list[Turn] = [
        _tool_search(f"select:{EXECUTE}"),
        message(tool_use(EXECUTE, {"agent_type": "summoner", "task_description": "Summon."})),
        message(text("There is no summoner.")),
    ]
    with FakeClaudeCodeAPI(turns) as fake:
        result = claude_code(fake, "Have the summoner agent summon something.").run()

    assert result["is_error"] is False, result
    assert fake.unexpected == 0
    assert fake.other_paths == []
    failed = _only_result(fake.main_request(2))
    assert failed["is_error"] is True
    message_text = result_text(failed)
    assert message_text.startswith("Error: Unknown agent type 'summoner'")
    first_line = message_text.splitlines()[0]
    for valid in ("todo_finder", "qa", "security", "documentation", "engineer"):
        assert valid in first_line
    details = json.loads(message_text.split("\n", 1)[1])
    assert details["error_type"] == "AgentNotFound"
    assert "todo_finder" in details["error_details"]["valid_agents"]
    db = project / ".claude-pm" / "state.db"
    if db.exists():
        assert _rows(db, "SELECT count(*) FROM runs") == [(0,)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_claude_code_mid_run_stops_the_server_and_kills_the_agent_tree(
    claude_code: MakeSession,
    project: Path,
    write_agent: Any,
    signum: int,
) -> None:
    write_agent("sleeper", SLEEPER)
    turns: list[Turn] = [
        _tool_search(f"select:{EXECUTE}"),
        message(tool_use(EXECUTE, {"agent_type": "sleeper", "task_description": "Wait."})),
        message(text("never reached")),
    ]
    with FakeClaudeCodeAPI(turns) as fake:
        session = claude_code(fake, "Have the sleeper wait.")
        session.start()
        pids_file = project / "sleeper.pids"
        wait_for(pids_file.exists, "the agent to start")
        agent_pids = [int(p) for p in pids_file.read_text().split()]
        servers = _servers_under(session.pid)
        assert len(servers) == 1
        os.kill(session.pid, signum)
        session.finish()

    assert fake.unexpected == 0
    assert fake.other_paths == []
    wait_for(lambda: not any(alive(p) for p in agent_pids), "the agent tree to be killed")
    wait_for(lambda: not alive(servers[0]), "the MCP server to exit")
    runs = _rows(project / ".claude-pm" / "state.db", "SELECT agent_type, status FROM runs")
    assert runs == [("sleeper", "cancelled")]


def _interrupt_a_sleeper(
    claude_code: MakeSession, project: Path, debug_file: Path | None = None
) -> tuple[FakeClaudeCodeAPI, list[int], list[int]]:
    """Stream a session that starts the sleeper, interrupt the call, then ask for discovery.

    Returns the fake, the agent's pids, and the server pids seen before and after.
    """
    turns: list[Turn] = [
        _tool_search(f"select:{EXECUTE},{DISCOVER}"),
        message(tool_use(EXECUTE, {"agent_type": "sleeper", "task_description": "Wait."})),
        message(tool_use(DISCOVER, {})),
        message(text("The team is listed.")),
    ]
    with FakeClaudeCodeAPI(turns) as fake:
        session = claude_code(fake, debug_file=debug_file)
        session.start()
        try:
            session.say("Have the sleeper wait.")
            pids_file = project / "sleeper.pids"
            wait_for(pids_file.exists, "the agent to start")
            agent_pids = [int(p) for p in pids_file.read_text().split()]
            servers = _servers_under(session.pid)
            session.send(
                {
                    "type": "control_request",
                    "request_id": "esc-1",
                    "request": {"subtype": "interrupt"},
                }
            )
            assert session.next_message("control_response")["response"]["subtype"] == "success"
            session.next_message("result")
            wait_for(lambda: not any(alive(p) for p in agent_pids), "the agent tree to die")
            session.say("Which agents are there?")
            final = session.next_message("result")
            assert final["subtype"] == "success" and final["result"] == "The team is listed."
            servers_after = _servers_under(session.pid)
        finally:
            session.finish()
    return fake, agent_pids, servers + servers_after


def test_interrupting_a_call_kills_the_agent_tree_and_the_server_keeps_serving(
    claude_code: MakeSession, project: Path, write_agent: Any
) -> None:
    write_agent("sleeper", SLEEPER)
    fake, _, servers = _interrupt_a_sleeper(claude_code, project)

    assert fake.unexpected == 0
    assert fake.other_paths == []
    assert len(servers) == 2 and servers[0] == servers[1], "the same server served both turns"
    listed = _only_result(fake.main_request(3))
    assert not listed.get("is_error")
    assert "sleeper" in {a["type"] for a in json.loads(result_text(listed))["available_agents"]}
    runs = _rows(project / ".claude-pm" / "state.db", "SELECT agent_type, status FROM runs")
    assert runs == [("sleeper", "cancelled")]
    wait_for(lambda: not alive(servers[0]), "the MCP server to exit with Claude Code")


def test_no_progress_reaches_claude_code_after_it_cancelled_the_call(
    claude_code: MakeSession, project: Path, write_agent: Any, tmp_path: Path
) -> None:
    write_agent("sleeper", SLEEPER)
    debug_file = tmp_path / "claude-debug.log"
    _interrupt_a_sleeper(claude_code, project, debug_file)

    log = debug_file.read_text(errors="replace")
    assert f'MCP server "{SERVER}": Connection established' in log
    assert "unknown token" not in log


def test_an_agent_that_ignores_sigterm_does_not_outlive_claude_code(
    claude_code: MakeSession, project: Path, write_agent: Any
) -> None:
    write_agent("stubborn", STUBBORN)
    turns: list[Turn] = [
        _tool_search(f"select:{EXECUTE}"),
        message(tool_use(EXECUTE, {"agent_type": "stubborn", "task_description": "Wait."})),
        message(text("never reached")),
    ]
    agent_pids: list[int] = []
    try:
        with FakeClaudeCodeAPI(turns) as fake:
            session = claude_code(fake, "Have the stubborn agent wait.")
            session.start()
            pids_file = project / "sleeper.pids"
            wait_for(pids_file.exists, "the agent to start")
            agent_pids = [int(p) for p in pids_file.read_text().split()]
            os.kill(session.pid, signal.SIGINT)
            session.finish()
        deadline = time.monotonic() + STUBBORN_DEADLINE_S
        while any(alive(p) for p in agent_pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [p for p in agent_pids if alive(p)]
        assert survivors == [], f"agent processes outlived Claude Code: {survivors}"
    finally:
        leftovers = []
        for pid in agent_pids:
            with contextlib.suppress(psutil.Error):
                leftovers.append(psutil.Process(pid))
                leftovers[-1].kill()
        psutil.wait_procs(leftovers, timeout=5)


READ_RESOURCE = "ReadMcpResourceTool"
LIST_RESOURCES = "ListMcpResourcesTool"


def _file_tickets(project: Path, output_text: str) -> dict[str, Any]:
    """File tickets in the project's real state database, through the handler."""
    handler = claude_pm.ClaudeToolHandler(settings=load_settings(project_root=project))
    return handler.handle_tool_call(
        "create_tickets_from_output",
        {"output_text": output_text, "source_agent": "qa", "auto_create": True},
    )


def test_claude_code_offers_the_prompts_as_slash_commands_and_runs_them(
    claude_code: MakeSession, project: Path
) -> None:
    _file_tickets(project, "BUG: src/app.py:12: crash on empty input")
    turns: list[Turn] = [message(text("Review started.")), message(text("Plan made."))]
    with FakeClaudeCodeAPI(turns) as fake:
        session = claude_code(fake)
        session.start()
        try:
            session.say(f"/mcp__{SERVER}__review qa,security")
            init = session.next_message("system")
            assert session.next_message("result")["result"] == "Review started."
            session.say(f"/mcp__{SERVER}__triage")
            assert session.next_message("result")["result"] == "Plan made."
        finally:
            session.finish()

    assert init["subtype"] == "init"
    assert {f"mcp__{SERVER}__review", f"mcp__{SERVER}__triage"} <= set(init["slash_commands"])
    assert {READ_RESOURCE, LIST_RESOURCES} <= set(init["tools"])
    assert fake.unexpected == 0
    assert fake.other_paths == []
    # The model got the prompts' text: the review workflow to run, then the open tickets.
    review = json.dumps(fake.main_request(0)["messages"])
    embedded = json.loads(
        json.loads(review)[0]["content"][-1]["text"].split("```json\n")[1].split("\n```")[0]
    )
    assert embedded == review_workflow(["qa", "security"])
    triage = json.dumps(fake.main_request(1)["messages"][-1])
    assert "PM-1 [high] bug: crash on empty input (src/app.py:12)" in triage


def test_claude_code_lists_and_reads_claude_pm_resources(
    claude_code: MakeSession, project: Path
) -> None:
    _file_tickets(project, "SECURITY: src/auth.py:7: token compared in non-constant time")
    server = {"server": SERVER}
    turns: list[Turn] = [
        _tool_search(f"select:{LIST_RESOURCES},{READ_RESOURCE}"),
        message(tool_use(LIST_RESOURCES, server)),
        message(tool_use(READ_RESOURCE, {**server, "uri": "claude-pm://tickets/PM-1"})),
        message(tool_use(READ_RESOURCE, {**server, "uri": "claude-pm://tickets/PM-7"})),
        message(text("PM-1 is a security ticket.")),
    ]
    with FakeClaudeCodeAPI(turns) as fake:
        result = claude_code(fake, "What is ticket PM-1?").run()

    assert result["is_error"] is False, result
    assert result["result"] == "PM-1 is a security ticket."
    assert fake.unexpected == 0
    assert fake.other_paths == []
    listed = _only_result(fake.main_request(2))
    assert not listed.get("is_error")
    assert "claude-pm://tickets" in result_text(listed)
    assert "claude-pm://agents/qa" in result_text(listed)
    read = _only_result(fake.main_request(3))
    assert not read.get("is_error"), read
    assert "token compared in non-constant time" in result_text(read)
    assert "src/auth.py" in result_text(read)
    # Claude Code words an INVALID_PARAMS answer to resources/read itself (our message,
    # "No ticket PM-7; ...", is what other clients show).
    missing = _only_result(fake.main_request(4))
    assert "Resource not found: claude-pm://tickets/PM-7" in result_text(missing)
