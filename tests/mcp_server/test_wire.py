"""``wire``: what a frame that cannot be served is answered with, and encoding that cannot fail."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest

from bad_calls import nested_lists, to_json
from claude_pm.mcp_server import wire

_PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


def _deep_call(request_id: Any, levels: int, *, id_last: bool = False) -> bytes:
    arguments = '{"output_text":' + to_json(nested_lists(levels)) + "}"
    params = '"params":{"name":"create_tickets_from_output","arguments":' + arguments + "}"
    head, rid = '"jsonrpc":"2.0","method":"tools/call"', f'"id":{json.dumps(request_id)}'
    return (
        "{" + (f"{head},{params},{rid}" if id_last else f"{head},{rid},{params}") + "}"
    ).encode()


def test_a_valid_message_decodes_as_the_sdk_reads_it() -> None:
    message = wire.decode(_PING)
    assert message == types.jsonrpc_message_adapter.validate_json(_PING, by_name=False)


#: (frame, code, id, message start): what each refused frame is answered with.
REFUSED: list[tuple[str, bytes, int, Any, str]] = [
    (
        "invalid JSON",
        b"{not json",
        -32700,
        None,
        "Parse error: invalid JSON (Expecting property name enclosed in double quotes: line 1",
    ),
    (
        "NUL bytes",
        b"\x00\x00",
        -32700,
        None,
        "Parse error: invalid JSON (Expecting value: line 1 column 1",
    ),
    (
        "a raw NUL inside a string, id still found",
        b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"a":"x\x00y"}}',
        -32700,
        5,
        "Parse error: invalid JSON (Invalid control character at: line 1 column 57",
    ),
    (
        "invalid UTF-8",
        b'{"jsonrpc":"2.0","id":6,"method":"ping","params":{"a":"\xff"}}',
        -32700,
        6,
        "Parse error: the message is not valid UTF-8 (byte 0xff at offset 55)",
    ),
    ("a batch", b"[" + _PING + b"]", -32600, None, "Invalid Request: batches are not supported"),
    (
        "a bare number",
        b"42",
        -32600,
        None,
        "Invalid Request: a JSON-RPC message is a JSON object, not a number",
    ),
    ("an empty object", b"{}", -32600, None, 'Invalid Request: jsonrpc must be "2.0"'),
    (
        "jsonrpc 1.0",
        b'{"jsonrpc":"1.0","id":7,"method":"ping"}',
        -32600,
        7,
        'Invalid Request: jsonrpc must be "2.0"',
    ),
    (
        "a null id (the SDK would take it for a notification)",
        b'{"jsonrpc":"2.0","id":null,"method":"ping"}',
        -32600,
        None,
        "Invalid Request: id must be a string or an integer, not null",
    ),
    (
        "a fractional id",
        b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
        -32600,
        None,
        "Invalid Request: id must be a string or an integer, not a fractional number",
    ),
    (
        "params an array",
        b'{"jsonrpc":"2.0","id":8,"method":"ping","params":[1]}',
        -32600,
        8,
        "Invalid Request: params must be an object",
    ),
    (
        "a number too long to read",
        b'{"jsonrpc":"2.0","id":9,"method":"ping","params":{"n":' + b"9" * 5000 + b"}}",
        -32700,
        9,
        "Parse error: number out of range",
    ),
    (
        "a lone surrogate",
        b'{"jsonrpc":"2.0","id":10,"method":"ping","params":{"a":"\\ud800"}}',
        -32600,
        10,
        "Invalid Request: params.a contains a lone surrogate",
    ),
    (
        "a lone surrogate in the id itself",
        b'{"jsonrpc":"2.0","id":"\\udc00","method":"ping"}',
        -32600,
        None,
        "Invalid Request: id contains a lone surrogate",
    ),
    (
        "100,000 levels deep",
        _deep_call(11, 100_000),
        -32600,
        11,
        "Invalid Request: the message nests objects and arrays more than 200 levels deep "
        "(at params.arguments.output_text[0][0][0][0][0]...)",
    ),
    (
        "100,000 levels deep, the id last",
        _deep_call("abc", 100_000, id_last=True),
        -32600,
        "abc",
        "Invalid Request: the message nests objects and arrays more than 200 levels deep",
    ),
    (
        "300 levels deep (Python's json reads it, the SDK's parser does not)",
        _deep_call(12, 300),
        -32600,
        12,
        "Invalid Request: the message nests objects and arrays more than 200 levels deep",
    ),
]


@pytest.mark.parametrize(
    ("frame", "code", "request_id", "start"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_a_refused_frame_gets_one_json_rpc_error(
    frame: bytes, code: int, request_id: Any, start: str
) -> None:
    refusal = wire.decode(frame)
    assert isinstance(refusal, wire.WireError), refusal
    answer = json.loads(refusal.to_bytes())
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == request_id
    assert answer["error"]["code"] == code
    assert answer["error"]["message"].startswith(start), answer["error"]["message"]
    types.jsonrpc_message_adapter.validate_json(refusal.to_bytes(), by_name=False)


def test_the_depth_the_sdk_parser_reads_is_the_documented_one() -> None:
    def nested(levels: int) -> bytes:
        return b"[" * levels + b"]" * levels

    import pydantic_core

    pydantic_core.from_json(nested(wire.MAX_MESSAGE_DEPTH))
    with pytest.raises(ValueError, match="recursion limit"):
        pydantic_core.from_json(nested(wire.MAX_MESSAGE_DEPTH + 2))


def test_an_oversized_frame_finds_its_id_at_either_end() -> None:
    head = b'{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"arguments":{"x":"aaa'
    refusal = wire.oversized(50_000_000, head, b'aaa"}}}')
    assert refusal.request_id == 21
    assert refusal.code == -32600
    assert "50,000,000 bytes, over the 16,777,216-byte (16 MiB) limit" in refusal.message
    assert "context.file_paths" in refusal.message
    tail = b'aaa"}},"jsonrpc":"2.0","id":"last"}'
    assert wire.oversized(
        50_000_000, b'{"method":"tools/call","params":{"x":"aa', tail
    ).request_id == ("last")
    assert wire.oversized(50_000_000, b"junk", b"junk").request_id is None


def test_a_response_utf8_cannot_carry_is_sent_escaped() -> None:
    message = types.JSONRPCResponse(jsonrpc="2.0", id=3, result={"path": "odd\udcff.md"})
    line = wire.encode(message)
    assert line is not None
    assert json.loads(line) == {"jsonrpc": "2.0", "id": 3, "result": {"path": "odd\\udcff.md"}}


def test_a_response_that_cannot_be_encoded_becomes_an_internal_error_for_its_id() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"a": deep}
    line = wire.encode(types.JSONRPCResponse(jsonrpc="2.0", id=4, result=deep))
    assert line is not None
    answer = json.loads(line)
    assert answer["id"] == 4
    assert answer["error"]["code"] == -32603
    assert answer["error"]["message"].startswith("Internal error: the response could not be")


def test_an_unencodable_notification_is_dropped_not_raised() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"a": deep}
    note = types.JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params=deep)
    assert wire.encode(note) is None
