"""MCP over streamable HTTP, and the bearer token that guards it off loopback.

The life of an HTTP server: :class:`HttpOptions` checks where it will listen
(any address but loopback needs a token); :func:`run_http` builds the server
and the SDK's streamable HTTP app, wraps it in :func:`require_bearer_token`
when there is a token, and runs it under uvicorn at ``http://host:port/mcp``.
On SIGINT or SIGTERM it kills every agent, cancels the calls in flight, lets
the open streams finish for :data:`HTTP_GRACEFUL_SHUTDOWN_S`, and exits. No
CORS headers are sent; on loopback the SDK rejects a foreign ``Host`` or
``Origin`` (DNS rebinding protection).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from claude_pm.errors import InvalidInput
from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.mcp_server.server import build_server
from claude_pm.process import request_shutdown
from claude_pm.tools import ClaudeToolHandler

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
    app: Any = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=options.host)
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
