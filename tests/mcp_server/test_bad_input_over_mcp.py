"""Malformed calls and protocol junk sent to real ``claude-pm mcp`` servers, stdio and HTTP.

Each call of :data:`bad_calls.BAD_CALLS` gets, over both transports, the
handler's own result as structured content (the same dict, byte for byte
once decoded), or, where the transport refuses the message, the JSON-RPC
error the table names. Raw JSON-RPC lines and bodies are used because the
real client refuses to send most of these. Then a corpus of protocol junk:
every input is answered with a result or one structured error (or, for what
JSON-RPC says gets no answer, the next request is answered at once), never a
hang, a partial line or a traceback, and a plain ``tools/list`` still works.

One stdio server and one HTTP server serve the whole module; every wait has
a deadline (``mcp_servers.DEADLINE_S``).
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_servers import (
    DEADLINE_S,
    RawHttpSession,
    RawStdioServer,
    http_server,
    isolated_env,
    stdio_params,
    tool_call_line,
)

from bad_calls import BAD_CALLS, DEEP, ECHO_AGENT, ECHO_CODE, BadCall, nested_lists, to_json
from claude_pm import ClaudeToolHandler
from claude_pm.config import load_settings
from claude_pm.mcp_server.wire import MAX_MESSAGE_BYTES
from claude_pm.testing import write_python_agent
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: An answer to a malformed call never needs more than this many bytes on the wire.
ANSWER_MAX_BYTES = 12 * 1024


@dataclass
class Bed:
    project: Path
    env: dict[str, str]
    handler: ClaudeToolHandler
    stdio: RawStdioServer
    http: RawHttpSession
    url: str
    stdio_stderr: Path


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    root = tmp_path_factory.mktemp("bad-input")
    project, home = root / "project", root / "home"
    project.mkdir()
    home.mkdir()
    write_python_agent(project, ECHO_AGENT, ECHO_CODE)
    env = isolated_env(home)
    handler = ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))
    stdio = RawStdioServer(project, env, root / "stdio.err")
    try:
        with http_server(project, env=env) as (url, _):
            yield Bed(project, env, handler, stdio, RawHttpSession(url), url, root / "stdio.err")
    finally:
        stdio.close()


def _expected(bed: Bed, case: BadCall) -> dict[str, Any]:
    """The handler's result for the call, as JSON would carry it."""
    result = bed.handler.handle_tool_call(case.tool, case.arguments)
    decoded: dict[str, Any] = json.loads(json.dumps(result))
    return decoded


def _check_answer(bed: Bed, case: BadCall, answer: dict[str, Any]) -> None:
    refusal = case.refused_by_transport
    if refusal is not None:
        error = answer["error"]
        assert error["code"] == refusal.code
        assert error["message"] == refusal.message
        if refusal.field:
            assert error["data"]["field"] == refusal.field
        return
    result = answer["result"]
    expected = _expected(bed, case)
    assert result["isError"] is True
    assert result["structuredContent"] == expected
    assert expected["error_type"] == case.error_type
    assert expected["error_details"].get("field") == case.field
    message = case.expected_message(str(bed.project.resolve()))
    assert expected["error"] == message
    assert result["content"][0]["text"].startswith(f"Error: {message}\n")


def _no_traceback(bed: Bed) -> None:
    assert "Traceback" not in bed.stdio_stderr.read_text(errors="replace")


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c.id for c in BAD_CALLS])
def test_each_malformed_call_over_stdio(bed: Bed, case: BadCall) -> None:
    answer = bed.stdio.call_tool(case.tool, to_json(case.arguments))
    _check_answer(bed, case, answer)
    assert bed.stdio.last_line_bytes <= ANSWER_MAX_BYTES
    _no_traceback(bed)


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c.id for c in BAD_CALLS])
def test_each_malformed_call_over_http(bed: Bed, case: BadCall) -> None:
    status, answer = bed.http.call_tool(case.tool, to_json(case.arguments))
    refused_by_us = case.refused_by_transport is not None and case.refused_by_transport.code in {
        -32600,
        -32700,
    }
    assert status == (400 if refused_by_us else 200)
    _check_answer(bed, case, answer)


def test_the_real_client_gets_the_handlers_result_for_every_call_it_can_send(bed: Bed) -> None:
    sendable = [c for c in BAD_CALLS if c.refused_by_transport is None]

    async def main(target: Any, cases: list[BadCall]) -> None:
        async with Client(target) as client:
            for case in cases:
                result = await client.call_tool(case.tool, case.arguments)
                assert result.is_error is True, case.id
                assert result.structured_content == _expected(bed, case), case.id
            assert len((await client.list_tools()).tools) == 4

    anyio.run(main, stdio_params(bed.project, bed.env), sendable)
    # Over HTTP the client also sends the tool name in an Mcp-Name header, and its own HTTP
    # stack gives up on a 100 kB header; the raw test above sends that call.
    anyio.run(main, bed.url, [c for c in sendable if len(c.tool) < 1000])


# --- protocol junk --------------------------------------------------------------------------

_PING = '{"jsonrpc":"2.0","id":%s,"method":"ping"}'


@dataclass(frozen=True)
class Junk:
    id: str
    frame: bytes
    #: (JSON-RPC code, the id answered, how the message starts); None: JSON-RPC sends no answer.
    answer: tuple[int, Any, str] | None


JUNK: list[Junk] = [
    Junk("invalid JSON", b"{not json", (-32700, None, "Parse error: invalid JSON")),
    Junk("NUL bytes", b"\x00\x00\x00", (-32700, None, "Parse error: invalid JSON")),
    Junk(
        "a NUL byte inside a string",
        b'{"jsonrpc":"2.0","id":"nul","method":"ping","params":{"a":"x\x00y"}}',
        (-32700, "nul", "Parse error: invalid JSON (Invalid control character"),
    ),
    Junk(
        "invalid UTF-8",
        b'{"jsonrpc":"2.0","id":"utf8","method":"ping","params":{"a":"\xc3\x28"}}',
        (-32700, "utf8", "Parse error: the message is not valid UTF-8"),
    ),
    Junk(
        "a JSON-RPC batch",
        ("[" + _PING % '"b1"' + "," + _PING % '"b2"' + "]").encode(),
        (-32600, None, "Invalid Request: batches are not supported"),
    ),
    Junk("an empty batch", b"[]", (-32600, None, "Invalid Request: batches are not supported")),
    Junk("a bare string", b'"ping"', (-32600, None, "Invalid Request: a JSON-RPC message is")),
    Junk("an empty object", b"{}", (-32600, None, 'Invalid Request: jsonrpc must be "2.0"')),
    Junk(
        "JSON-RPC 1.0",
        b'{"jsonrpc":"1.0","id":"v1","method":"ping"}',
        (-32600, "v1", 'Invalid Request: jsonrpc must be "2.0"'),
    ),
    Junk(
        "a null id",
        b'{"jsonrpc":"2.0","id":null,"method":"tools/list"}',
        (-32600, None, "Invalid Request: id must be a string or an integer, not null"),
    ),
    Junk(
        "an object id",
        b'{"jsonrpc":"2.0","id":{"n":1},"method":"tools/list"}',
        (-32600, None, "Invalid Request: id must be a string or an integer, not an object"),
    ),
    Junk(
        "params an array",
        b'{"jsonrpc":"2.0","id":"arr","method":"tools/list","params":[]}',
        (-32600, "arr", "Invalid Request: params must be an object"),
    ),
    Junk(
        "an unknown method",
        b'{"jsonrpc":"2.0","id":"nope","method":"tools/destroy"}',
        (-32601, "nope", "Method not found"),
    ),
    Junk(
        "tools/call without a name",
        b'{"jsonrpc":"2.0","id":"noname","method":"tools/call","params":{"arguments":{}}}',
        (-32602, "noname", "Invalid request parameters"),
    ),
    Junk(
        "a 100,000-deep ping",
        b'{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"x":'
        + to_json(nested_lists(DEEP)).encode()
        + b"}}",
        (-32600, "deep", "Invalid Request: the message nests objects and arrays more than 200"),
    ),
    Junk(
        "a lone surrogate in a method name",
        b'{"jsonrpc":"2.0","id":"sur","method":"\\ud800"}',
        (-32600, "sur", "Invalid Request: method contains a lone surrogate"),
    ),
    Junk(
        "a number with 5,000 digits",
        b'{"jsonrpc":"2.0","id":"big","method":"ping","params":{"n":' + b"7" * 5000 + b"}}",
        (-32700, "big", "Parse error: number out of range"),
    ),
    Junk(
        "two messages glued together",
        (_PING % '"g1"' + _PING % '"g2"').encode(),
        (-32700, "g1", "Parse error: invalid JSON (Extra data"),
    ),
    Junk("a request without an id (a notification)", b'{"jsonrpc":"2.0","method":"ping"}', None),
    Junk(
        "tools/call sent as a notification",
        b'{"jsonrpc":"2.0","method":"tools/call","params":{"name":"discover_available_agents"}}',
        None,
    ),
    Junk("a response nobody asked for", b'{"jsonrpc":"2.0","id":"r","result":{}}', None),
]


def _check_junk_answer(junk: Junk, message: dict[str, Any]) -> None:
    assert junk.answer is not None
    code, request_id, start = junk.answer
    assert message["id"] == request_id, message
    assert message["error"]["code"] == code, message
    assert message["error"]["message"].startswith(start), message


@pytest.mark.parametrize("junk", JUNK, ids=[j.id for j in JUNK])
def test_junk_over_stdio_gets_one_answer_and_the_server_keeps_serving(bed: Bed, junk: Junk) -> None:
    stdio = bed.stdio
    stdio.send(junk.frame)
    if junk.answer is not None:
        _check_junk_answer(junk, stdio.next_message())
    after = stdio.request_raw((_PING % '"after"').encode(), "after")
    assert after["result"] == {}, "the next request is answered next: nothing else came first"
    assert len(stdio.list_tools()) == 4
    _no_traceback(bed)


@pytest.mark.parametrize("junk", JUNK, ids=[j.id for j in JUNK])
def test_junk_over_http_gets_one_answer_and_the_server_keeps_serving(bed: Bed, junk: Junk) -> None:
    status, message, _ = bed.http.post(junk.frame)
    if junk.answer is None:
        assert status == 202 and message == {}
    else:
        code = junk.answer[0]
        assert status == (400 if code in {-32600, -32700} else 200)
        _check_junk_answer(junk, message)
    status, tools, _ = bed.http.post(b'{"jsonrpc":"2.0","id":"list","method":"tools/list"}')
    assert status == 200 and len(tools["result"]["tools"]) == 4


def test_blank_lines_are_no_messages_over_stdio(bed: Bed) -> None:
    bed.stdio.send(b"")
    bed.stdio.send(b"   \r")
    answer = bed.stdio.request_raw((_PING % '"blank"').encode(), "blank")
    assert answer["result"] == {}


# --- size -----------------------------------------------------------------------------------


def _padded_list_request(request_id: str, total_bytes: int) -> bytes:
    """A ``tools/list`` request padded (in its cursor) to exactly ``total_bytes``."""
    empty = json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/list", "params": {"cursor": ""}}
    ).encode()
    frame = empty[:-3] + b"x" * (total_bytes - len(empty)) + empty[-3:]
    assert len(frame) == total_bytes
    return frame


def test_a_message_of_exactly_the_limit_is_served_one_byte_more_is_refused(bed: Bed) -> None:
    fits = _padded_list_request("fits", MAX_MESSAGE_BYTES)
    assert len(bed.stdio.request_raw(fits, "fits")["result"]["tools"]) == 4
    answer = bed.stdio.request_raw(_padded_list_request("over", MAX_MESSAGE_BYTES + 1), "over")
    assert answer["error"]["code"] == -32600
    assert answer["error"]["message"].startswith(
        f"Invalid Request: the message is {MAX_MESSAGE_BYTES + 1:,} bytes, over the "
        f"{MAX_MESSAGE_BYTES:,}-byte (16 MiB) limit."
    )
    status, listed, _ = bed.http.post(fits)
    assert status == 200 and len(listed["result"]["tools"]) == 4
    status, refused, _ = bed.http.post(_padded_list_request("over", MAX_MESSAGE_BYTES + 1))
    assert status == 413
    assert refused["id"] == "over" and refused["error"]["code"] == -32600


def _fifty_mb_call(request_id: int) -> bytes:
    return tool_call_line(
        request_id,
        "execute_agent_subprocess",
        json.dumps({"agent_type": "a" * 50_000_000, "task_description": "check"}),
    ).encode()


def test_a_50_mb_line_is_refused_while_other_calls_are_served(bed: Bed) -> None:
    """A call in flight finishes while the server is still receiving a 50 MB line."""
    # Inside the project: the one place a (possibly sandboxed) agent may write.
    gates = bed.project / "gates"
    gates.mkdir()
    gate = gates / "gate"
    write_python_agent(
        bed.project,
        "gatekeeper",
        "import pathlib, sys, time\n"
        f"gate = pathlib.Path({str(gate)!r})\n"
        "(gate.parent / 'started').write_text('yes')\n"
        "while not gate.exists(): time.sleep(0.02)\n"
        "print('through the gate')\n",
    )
    stdio = bed.stdio
    gated = json.dumps({"agent_type": "gatekeeper", "task_description": "wait"})
    stdio.send(tool_call_line(9001, "execute_agent_subprocess", gated).encode())
    wait_for((gates / "started").exists, "the gatekeeper agent to start")
    big = _fifty_mb_call(9002)
    half = len(big) // 2
    assert stdio.proc.stdin is not None
    stdio.proc.stdin.write(big[:half])  # half a line: the server is mid-way through reading it
    stdio.proc.stdin.flush()
    gate.write_text("open")
    finished = stdio.next_message()
    assert finished["id"] == 9001
    assert finished["result"]["structuredContent"]["output"] == "through the gate\n"
    stdio.send(big[half:])
    refused = stdio.next_message()
    assert refused["id"] == 9002
    assert refused["error"]["code"] == -32600
    assert refused["error"]["message"].startswith("Invalid Request: the message is 50,000,")
    assert len(stdio.list_tools()) == 4
    _no_traceback(bed)


def test_a_50_mb_body_gets_413_before_it_is_read_while_others_are_served(bed: Bed) -> None:
    """The 413 status arrives while the client is still holding back most of the body."""
    url = urllib.parse.urlsplit(bed.url)
    release = threading.Event()
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []

    def chunks() -> Iterator[bytes]:
        big = _fifty_mb_call(9003)
        yield big[: 1 << 20]
        release.wait(DEADLINE_S)
        for start in range(1 << 20, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    def post_big() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=DEADLINE_S)
        try:
            conn.request(
                "POST",
                url.path,
                body=chunks(),
                headers={
                    "content-type": "application/json",
                    "accept": "application/json, text/event-stream",
                    "mcp-session-id": bed.http.session_id or "",
                    "mcp-protocol-version": "2025-06-18",
                },
                encode_chunked=True,
            )
            response = conn.getresponse()
            statuses.append(response.status)
            bodies.append(json.loads(response.read()))
        finally:
            conn.close()

    sender = threading.Thread(target=post_big, daemon=True)
    sender.start()
    try:
        # With 1 MB of the big body in, another request is answered.
        status, listed, _ = bed.http.post(b'{"jsonrpc":"2.0","id":"mid","method":"tools/list"}')
        assert status == 200 and len(listed["result"]["tools"]) == 4
    finally:
        release.set()
        sender.join(DEADLINE_S)
    assert statuses == [413]
    assert bodies[0]["id"] == 9003
    assert bodies[0]["error"]["message"].startswith("Invalid Request: the message is more than")


def test_a_declared_50_mb_body_is_refused_from_its_header(bed: Bed) -> None:
    status, answer, _ = bed.http.post(_fifty_mb_call(9004))
    assert status == 413
    assert answer["id"] == 9004
    assert answer["error"]["message"].startswith("Invalid Request: the message is 50,000,")


# --- what the server sends ------------------------------------------------------------------


def test_a_result_utf8_cannot_carry_still_gets_its_one_answer(
    project: Path, tmp_path: Path, isolated_home: Path
) -> None:
    """An agent file whose name is not UTF-8 shows up in discovery, escaped, on both transports."""
    path = write_python_agent(project, "odd", "print('odd')")
    path.rename(path.with_name("odd\udcff.md"))  # the bytes b"odd\xff.md" on disk
    env = isolated_env(isolated_home)
    expected_file = str(project / ".claude" / "agents" / "odd\\udcff.md")

    def odd_agent(structured: dict[str, Any]) -> dict[str, Any]:
        [odd] = [a for a in structured["available_agents"] if a["type"] == "odd"]
        return odd

    stdio = RawStdioServer(project, env, tmp_path / "stdio.err")
    try:
        answer = stdio.call_tool("discover_available_agents", "{}")
        assert answer["result"]["isError"] is False
        assert odd_agent(answer["result"]["structuredContent"])["source_file"] == expected_file
        assert len(stdio.list_tools()) == 4
    finally:
        stdio.close()
    assert "Traceback" not in (tmp_path / "stdio.err").read_text(errors="replace")

    with http_server(project, env=env) as (url, _):
        status, answer = RawHttpSession(url).call_tool("discover_available_agents", "{}")
        assert status == 200
        assert odd_agent(answer["result"]["structuredContent"])["source_file"] == expected_file

        async def main() -> None:
            async with Client(url) as client:
                result = await client.call_tool("discover_available_agents", {})
                assert result.structured_content is not None
                assert odd_agent(result.structured_content)["source_file"] == expected_file

        anyio.run(main)
