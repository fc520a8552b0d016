"""MCP over streamable HTTP, and the bearer token that guards it off loopback.

The life of an HTTP server: :class:`HttpOptions` checks where it will listen
(any address but loopback needs a token); :func:`run_http` builds the server
and the SDK's streamable HTTP app and runs it under uvicorn at
``http://host:port/mcp``, behind three checks, outermost first:

1. :func:`require_bearer_token` (when there is a token): ``401`` without it,
   before anything is read;
2. :func:`require_own_origin`: an ``Origin`` naming a loopback host must be
   this server's own ``http://host:port`` (a page served by another local
   port cannot drive it); on loopback the SDK also rejects any non-local
   ``Host`` or ``Origin`` (DNS rebinding protection);
3. :func:`check_messages`: a POST body over
   :data:`~claude_pm.mcp_server.wire.MAX_MESSAGE_BYTES` gets ``413`` before
   it is read in full, and one the transport cannot decode gets ``400``, each
   with the same JSON-RPC error stdio would answer.

On SIGINT or SIGTERM it kills every agent, cancels the calls in flight, lets
the open streams finish for :data:`HTTP_GRACEFUL_SHUTDOWN_S`, and exits. No
CORS headers are sent.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from claude_pm.errors import InvalidInput
from claude_pm.mcp_server import wire
from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.mcp_server.server import build_server
from claude_pm.process import request_shutdown
from claude_pm.tools import ClaudeToolHandler
from claude_pm.tools.validation import clip

log = logging.getLogger(__name__)

DEFAULT_HTTP_HOST = "127.0.0.1"
DEFAULT_HTTP_PORT = 8765
HTTP_PATH = "/mcp"
#: How long uvicorn lets open HTTP streams finish after a signal (calls are cancelled first).
HTTP_GRACEFUL_SHUTDOWN_S = 5

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpOptions:
    """Where the streamable HTTP transport listens, and the bearer token it requires (if any)."""

    host: str = DEFAULT_HTTP_HOST
    port: int = DEFAULT_HTTP_PORT
    token: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InvalidInput(f"--port must be 0-65535, got {self.port}.", field="port")
        if self.token is not None and not self.token.strip():
            raise InvalidInput("The bearer token must not be empty.", field="token")
        if not is_loopback(self.host) and self.token is None:
            raise InvalidInput(
                f"--host {self.host} exposes the server beyond this machine: pass --token "
                "(or set CLAUDE_PM_MCP_TOKEN) so every request must carry "
                "'Authorization: Bearer <token>', or bind 127.0.0.1.",
                field="token",
            )


_AUTH_HELP = "Missing or wrong bearer token: send 'Authorization: Bearer <token>'."


def require_bearer_token(app: ASGIApp, token: str) -> ASGIApp:
    """Wrap an ASGI app so every HTTP request must carry ``Authorization: Bearer <token>``."""
    expected = token.encode()

    async def guarded(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope.get("type") == "http":
            headers = dict(scope.get("headers") or [])
            scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), expected):
                body = json.dumps({"error": _AUTH_HELP}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="claude-pm"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]


#: How much of a refused body is read (and dropped) so that the client gets to read the 413.
DISCARD_MAX_BYTES = 256 * 1024 * 1024


async def _send_json(
    send: Send, status: int, body: dict[str, Any], *, discard: Receive | None = None
) -> None:
    """Answer with a JSON body; with ``discard``, drop the rest of the request body in between.

    A client still sending when the server closes would see a reset, not the
    answer: the status goes out first, the body is read and dropped (up to
    :data:`DISCARD_MAX_BYTES`), then the answer's body ends the response.
    """
    data = json.dumps(body, separators=(",", ":")).encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    if discard is not None:
        dropped = 0
        while dropped <= DISCARD_MAX_BYTES:
            message = await discard()
            if message["type"] != "http.request":
                break
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
    await send({"type": "http.response.body", "body": data})


def _host_key(host: str) -> str:
    return host.strip().strip("[]").lower()


def _own_origin(origin: str, bound_host: str, bound_port: int) -> bool:
    """Whether an ``Origin`` that names a loopback host is this server's own ``host:port``.

    Origins off loopback are not this check's to judge (the SDK's allow-list is).
    """
    try:
        parts = urllib.parse.urlsplit(origin)
        host, port = parts.hostname, parts.port
    except ValueError:
        return False
    if host is None or not is_loopback(host):
        return True
    if parts.scheme != "http" or (port if port is not None else 80) != bound_port:
        return False
    return not is_loopback(bound_host) or _host_key(host) == _host_key(bound_host)


def require_own_origin(app: ASGIApp, host: str) -> ASGIApp:
    """Refuse (403) a request whose loopback ``Origin`` is not this server's ``host:port``.

    ``host`` is the address the server binds; the port is the one it really
    listens on (the ASGI scope's ``server``). A request without ``Origin``
    passes, as MCP clients that are not browsers send none.
    """

    async def guarded(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            origin = dict(scope.get("headers") or []).get(b"origin")
            server = scope.get("server") or (host, 0)
            if origin is not None and not _own_origin(origin.decode("latin-1"), host, server[1]):
                shown = clip(origin.decode("latin-1"))
                log.warning("refused a request from Origin %s", shown)
                await _send_json(
                    send,
                    403,
                    wire.WireError(
                        wire.INVALID_REQUEST,
                        f"Forbidden: Origin {shown} is not this server "
                        f"(http://{host}:{server[1]}); browsers may not drive it from another "
                        "page or port.",
                    ).to_dict(),
                )
                return
        await app(scope, receive, send)

    return guarded


def check_messages(app: ASGIApp, path: str = HTTP_PATH) -> ASGIApp:
    """Answer a POST to ``path`` that is too large (413) or undecodable (400) with a JSON-RPC error.

    A declared ``Content-Length`` over the limit is refused before any of the
    body is read; a chunked body is refused as soon as it passes the limit. A
    body that decodes is replayed to ``app`` unchanged.
    """
    import anyio.to_thread

    async def guarded(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope["path"] != path:
            await app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > wire.MAX_MESSAGE_BYTES:
            log.warning("refused a %s-byte body (over the limit)", declared.decode())
            first = await receive()  # the start of the body, to find the request's id
            head = first.get("body", b"")[: wire.OVERSIZED_HEAD_BYTES]
            refusal = wire.oversized(int(declared), head, b"")
            more = first["type"] == "http.request" and first.get("more_body", False)
            await _send_json(send, 413, refusal.to_dict(), discard=receive if more else None)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > wire.MAX_MESSAGE_BYTES:
                head = bytes((body + chunk)[: wire.OVERSIZED_HEAD_BYTES])
                size = len(body) + len(chunk)
                await _send_json(
                    send, 413, wire.oversized(size, head, b"", at_least=True).to_dict()
                )
                return
            body += chunk
            if not message.get("more_body", False):
                break
        frame = bytes(body)
        if len(frame) < 256 * 1024:
            decoded = wire.decode(frame)
        else:
            decoded = await anyio.to_thread.run_sync(wire.decode, frame)
        if isinstance(decoded, wire.WireError):
            log.info("refused a message: %s", decoded.message)
            await _send_json(send, 400, decoded.to_dict())
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": frame, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return guarded


def run_http(
    handler: ClaudeToolHandler,
    options: HttpOptions,
    *,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve MCP over streamable HTTP at ``http://host:port/mcp`` until SIGINT/SIGTERM.

    No CORS headers are sent. ``on_listening(url)`` is called once the socket
    is bound (with the real port when ``options.port`` is 0).
    """
    import uvicorn

    calls = InFlightCalls()
    server = build_server(handler, calls)
    app: Any = server.streamable_http_app(
        streamable_http_path=HTTP_PATH,
        host=options.host,
        max_request_body_size=wire.MAX_MESSAGE_BYTES,
    )
    app = require_own_origin(check_messages(app), options.host)
    if options.token is not None:
        app = require_bearer_token(app, options.token)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Kill the agents first so the open streams can finish and uvicorn stop.
            request_shutdown()
            calls.cancel_all()
            super().handle_exit(sig, frame)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if on_listening is not None and self.servers:
                port = self.servers[0].sockets[0].getsockname()[1]
                host = f"[{options.host}]" if ":" in options.host else options.host
                on_listening(f"http://{host}:{port}{HTTP_PATH}")

    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        timeout_graceful_shutdown=HTTP_GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
    try:
        _Server(config).run()
    finally:
        calls.cancel_all()
        calls.wait_idle(SHUTDOWN_GRACE_S)
