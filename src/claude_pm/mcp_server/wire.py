"""What crosses the wire: the size limit, decoding one message, and answers that always encode.

Both transports frame messages (stdio: one per line; HTTP: one per POST body)
and hand each frame here. :func:`decode` parses it with the MCP SDK's own
parser; when that parser refuses it, the frame is examined (UTF-8, JSON
syntax, lone surrogates, nesting, the JSON-RPC shape) and a :class:`WireError`
says why, so the transport answers it instead of dropping it. The answer
carries the request's ``id`` when it can be found, even in a frame that does
not parse (a scan of its top-level members), and ``null`` otherwise, as
JSON-RPC asks.

- A frame over :data:`MAX_MESSAGE_BYTES` is refused unread (:func:`oversized`),
  with code -32600.
- Invalid UTF-8 or JSON is a parse error (-32700).
- Valid JSON that is not one JSON-RPC message (a batch, ``"id": null``, no
  ``jsonrpc``), a string with a lone surrogate, or nesting deeper than
  :data:`MAX_MESSAGE_DEPTH` is an invalid request (-32600), naming the field.

:func:`encode` turns an outgoing message into one line of JSON and never
fails to produce one: a string that cannot be UTF-8 (a file name decoded with
``surrogateescape``) is sent with its unencodable characters escaped, and a
response that cannot be encoded at all becomes an internal error (-32603)
for the same id, so every request gets exactly one answer.

Error messages quote values through :func:`~claude_pm.tools.validation.clip`:
never more than a short prefix, always encodable.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claude_pm.tools.validation import MAX_ARGUMENT_DEPTH, clip

if TYPE_CHECKING:
    from mcp_types import JSONRPCMessage

log = logging.getLogger(__name__)

#: Largest message either transport reads (a stdio line, an HTTP body): 16 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Deepest nesting of objects and arrays in a message that the SDK's JSON parser accepts.
MAX_MESSAGE_DEPTH = 200

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603

#: How much of an oversized frame is kept to find its id: its start and its end.
OVERSIZED_HEAD_BYTES = 64 * 1024
OVERSIZED_TAIL_BYTES = 4 * 1024
#: The scan for an id in a frame that does not parse stops after this many tokens.
SCAN_TOKEN_BUDGET = 2_000_000

RequestId = str | int

_TOKENS = re.compile(
    rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]+|[\]}]+|[:,]|[^\s"\[\]{}:,]+',
    re.DOTALL,
)
_TRAILING_ID = re.compile(rb',\s*"id"\s*:\s*(-?\d{1,19}|"[^"\\]{0,256}")\s*}\s*$')
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Path components of a field kept in messages.
_PATH_PARTS = 8


@dataclass(frozen=True)
class WireError:
    """Why a frame was refused, as the JSON-RPC error that answers it."""

    code: int
    message: str
    request_id: RequestId | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": self.request_id, "error": error}

    def to_bytes(self) -> bytes:
        """The error as one line of JSON (ASCII, so it always encodes), without the newline."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode("ascii")


# --- decoding -------------------------------------------------------------------------------


def decode(frame: bytes) -> JSONRPCMessage | WireError:
    """One JSON-RPC message from ``frame``, or the error that answers it."""
    import mcp_types as types
    import pydantic_core
    from pydantic import ValidationError

    try:
        message = types.jsonrpc_message_adapter.validate_json(frame, by_name=False)
    except ValidationError as e:
        problems = e.errors(include_url=False, include_input=False, include_context=False)
    else:
        if isinstance(message, types.JSONRPCNotification) and b'"id"' in frame:
            # The SDK reads a request whose id is null (or a float...) as a notification,
            # which nobody answers.
            value = pydantic_core.from_json(frame)
            if isinstance(value, dict) and "id" in value:
                return _not_jsonrpc(value)
        return message
    if any(p["type"] == "json_invalid" for p in problems):
        says = next(p["msg"] for p in problems if p["type"] == "json_invalid")
        return _undecodable(frame, says.removeprefix("Invalid JSON: "))
    return _not_jsonrpc(pydantic_core.from_json(frame))


def oversized(size_bytes: int, head: bytes, tail: bytes, *, at_least: bool = False) -> WireError:
    """The answer to a frame over :data:`MAX_MESSAGE_BYTES`, found from its first and last bytes."""
    found = _scan(head).request_id
    if found is None:
        match = _TRAILING_ID.search(tail)
        if match is not None:
            found = _valid_id(_loads(match.group(1)))
    size = f"{'more than ' if at_least else ''}{size_bytes:,} bytes"
    return WireError(
        INVALID_REQUEST,
        f"Invalid Request: the message is {size}, over the {MAX_MESSAGE_BYTES:,}-byte "
        f"({MAX_MESSAGE_BYTES // 2**20} MiB) limit. Send large inputs as files inside the "
        "project (context.file_paths) rather than inline.",
        found,
        {"limit_bytes": MAX_MESSAGE_BYTES},
    )


def _undecodable(frame: bytes, parser_says: str) -> WireError:
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError as e:
        return WireError(
            PARSE_ERROR,
            f"Parse error: the message is not valid UTF-8 (byte 0x{frame[e.start]:02x} at offset "
            f"{e.start}); send JSON encoded as UTF-8.",
            _scan(frame).request_id,
        )
    try:
        value = json.loads(text)
    except RecursionError:
        scan = _scan(frame, depth_limit=MAX_MESSAGE_DEPTH)
        return _too_deep(scan.request_id, scan.deep_path or "(message)")
    except json.JSONDecodeError as e:
        return WireError(
            PARSE_ERROR,
            f"Parse error: invalid JSON ({e}).",
            _scan(frame).request_id,
        )
    except ValueError:  # an integer too long to convert, and the like
        request_id = _scan(frame).request_id
        return WireError(PARSE_ERROR, f"Parse error: {clip(parser_says, 200)}.", request_id)
    request_id = _valid_id(value.get("id")) if isinstance(value, dict) else None
    if request_id is not None and _has_surrogate(request_id):
        request_id = None
    problem = _find_problem(value)
    if problem is None:
        return WireError(PARSE_ERROR, f"Parse error: {clip(parser_says, 200)}.", request_id)
    kind, path = problem
    if kind == "deep":
        return _too_deep(request_id, path)
    return WireError(
        INVALID_REQUEST,
        f"Invalid Request: {path} contains a lone surrogate, which is not valid Unicode; "
        "send text as valid UTF-8.",
        request_id,
        {"field": path},
    )


def _too_deep(request_id: RequestId | None, path: str) -> WireError:
    return WireError(
        INVALID_REQUEST,
        f"Invalid Request: the message nests objects and arrays more than {MAX_MESSAGE_DEPTH} "
        f"levels deep (at {path}); tool arguments may nest at most {MAX_ARGUMENT_DEPTH} levels.",
        request_id,
        {"field": path, "max_depth": MAX_MESSAGE_DEPTH},
    )


def _not_jsonrpc(value: Any) -> WireError:
    if isinstance(value, list):
        why = (
            "batches are not supported (MCP has no JSON-RPC batching since 2025-06-18); "
            "send one message at a time"
        )
        return WireError(INVALID_REQUEST, f"Invalid Request: {why}.")
    if not isinstance(value, dict):
        why = f"a JSON-RPC message is a JSON object, not {_json_type(value)}"
        return WireError(INVALID_REQUEST, f"Invalid Request: {why}.")
    request_id = _valid_id(value.get("id"))
    if value.get("jsonrpc") != "2.0":
        why = 'jsonrpc must be "2.0"'
    elif "id" in value and request_id is None:
        why = f"id must be a string or an integer, not {_json_type(value['id'])}"
    elif "method" in value and not isinstance(value["method"], str):
        why = "method must be a string"
    elif "params" in value and not isinstance(value["params"], dict):
        why = "params must be an object"
    elif "method" not in value and "result" not in value and "error" not in value:
        why = "a message needs a method (a request or notification), or a result or an error"
    else:
        why = "this is not a JSON-RPC 2.0 request, notification or response"
    return WireError(INVALID_REQUEST, f"Invalid Request: {why}.", request_id)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a fractional number" if isinstance(value, float) else "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _valid_id(value: Any) -> RequestId | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return value


def _has_surrogate(value: RequestId) -> bool:
    return isinstance(value, str) and _SURROGATE.search(value) is not None


def _loads(token: bytes) -> Any:
    try:
        return json.loads(token)
    except ValueError:
        return None


def _find_problem(value: Any) -> tuple[str, str] | None:
    """("surrogate" | "deep", path) for the first lone surrogate or over-deep container, if any.

    Iterative (the value may be nested too deep for recursion); paths look like
    ``params.arguments.context[0]``, cut after a few parts.
    """
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                return "surrogate", _path_text(path)
        elif isinstance(item, dict | list):
            if depth > MAX_MESSAGE_DEPTH:
                return "deep", _path_text(path)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                child_path = (*path, key) if len(path) < _PATH_PARTS else path
                if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                    return "surrogate", _path_text(child_path)
                stack.append((child, depth + 1, child_path))
    return None


def _path_text(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{clip(part, 40)}" if out else clip(part, 40)
    if len(path) >= _PATH_PARTS:
        out += "..."
    return out or "(message)"


# --- scanning a frame that does not parse ---------------------------------------------------


@dataclass
class _Scan:
    request_id: RequestId | None = None
    deep_path: str | None = None


def _scan(frame: bytes, depth_limit: int | None = None) -> _Scan:
    """Find the top-level ``id`` (and where nesting first passes ``depth_limit``) by tokens.

    Works on frames that are cut short or nested too deep for a parser: only
    the first :data:`_PATH_PARTS` levels are tracked, and runs of brackets are
    counted at once.
    """
    found = _Scan()
    depth = 0
    kinds: list[int] = []  # b"{" or b"[" for each tracked level
    keys: list[Any] = []  # the key (objects) or index (arrays) at each tracked level
    expect_key = False
    for count, match in enumerate(_TOKENS.finditer(frame)):
        if count >= SCAN_TOKEN_BUDGET:
            break
        token = match.group()
        first = token[0]
        if first in b"[{":
            for bracket in token[: max(0, _PATH_PARTS - depth)]:
                kinds.append(bracket)
                keys.append(0 if bracket == ord("[") else None)
            if depth_limit is not None and found.deep_path is None:
                deeper = depth + len(token) > depth_limit
                found.deep_path = _scan_path(keys, depth_limit) if deeper else None
            depth += len(token)
            expect_key = token[-1] == ord("{")
        elif first in b"]}":
            depth -= len(token)
            if depth <= 0:
                break
            del kinds[depth:], keys[depth:]
            expect_key = False
        elif token == b",":
            if 0 < depth <= _PATH_PARTS:
                if kinds[depth - 1] == ord("{"):
                    expect_key = True
                else:
                    keys[depth - 1] += 1
        elif token == b":":
            expect_key = False
        elif expect_key:
            if 0 < depth <= _PATH_PARTS:
                key = _loads(token)
                keys[depth - 1] = key if isinstance(key, str) else "?"
            expect_key = False
        elif depth == 1 and keys[0] == "id" and found.request_id is None:
            found.request_id = _valid_id(_loads(token))
            if found.request_id is not None and _has_surrogate(found.request_id):
                found.request_id = None
            if depth_limit is None and found.request_id is not None:
                break
    return found


def _scan_path(keys: list[Any], levels: int) -> str:
    out = ""
    for key in keys[: min(levels, _PATH_PARTS)]:
        if isinstance(key, int):
            out += f"[{key}]"
        elif key is not None:
            out += f".{clip(key, 40)}" if out else clip(key, 40)
    return (out or "(message)") + ("..." if levels > _PATH_PARTS else "")


# --- encoding -------------------------------------------------------------------------------


def encode(message: JSONRPCMessage) -> bytes | None:
    """``message`` as one line of JSON (without the newline), or None for nothing to send.

    Strings that cannot be UTF-8 are sent with those characters escaped; a
    response that cannot be encoded at all becomes an internal error for its
    id; an unencodable notification is logged and dropped.
    """
    try:
        return message.model_dump_json(by_alias=True, exclude_unset=True).encode("utf-8")
    except Exception as e:  # pydantic reports surrogates and depth as serialization errors
        first_error: Exception = e
    try:
        plain = message.model_dump(mode="python", by_alias=True, exclude_unset=True)
        return json.dumps(encodable(plain), ensure_ascii=False, default=str).encode("utf-8")
    except (RecursionError, ValueError, TypeError) as e:
        log.warning("an outgoing message cannot be encoded: %s (first: %s)", e, first_error)
    request_id = getattr(message, "id", None)
    if request_id is None or getattr(message, "method", None) is not None:
        return None
    return WireError(
        INTERNAL_ERROR,
        "Internal error: the response could not be encoded as JSON "
        f"({type(first_error).__name__}: {clip(str(first_error), 200)}). This is a claude-pm "
        "bug; the server's log has the details.",
        request_id,
    ).to_bytes()


def encodable(value: Any) -> Any:
    """``value`` with every string made UTF-8-safe (unencodable characters backslash-escaped).

    A file name read with ``surrogateescape`` (``'odd\\udcff.md'``) becomes the
    text ``odd\\udcff.md``, which JSON and UTF-8 can carry.
    """
    if isinstance(value, str):
        return value if value.isascii() or not _SURROGATE.search(value) else clip(value, len(value))
    if isinstance(value, Mapping):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(v) for v in value]
    return value
