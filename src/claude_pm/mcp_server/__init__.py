"""claude-pm as an MCP server: the four tools, prompts and resources over stdio or HTTP.

What lives where:

- :mod:`~claude_pm.mcp_server.calls`: :class:`InFlightCalls`, the cancel
  events of the calls being served, so a shutdown can cancel them all.
- :mod:`~claude_pm.mcp_server.server`: :func:`build_server`, the SDK's
  low-level server publishing the exact tool schemas and serving each
  ``tools/call`` through the handler in a worker thread, with progress and
  cancellation, and the prompts and resources below.
- :mod:`~claude_pm.mcp_server.prompts`: the ``review`` and ``triage`` prompts.
- :mod:`~claude_pm.mcp_server.resources`: the ``claude-pm://`` resources
  (tickets, a recorded run's logs page by page, agent definitions).
- :mod:`~claude_pm.mcp_server.wire`: what both transports share about the
  bytes: the size limit (:data:`MAX_MESSAGE_BYTES`), decoding a message, the
  JSON-RPC error that answers one that does not decode, and encoding that
  always produces an answer.
- :mod:`~claude_pm.mcp_server.stdio`: :func:`serve_stdio` / :func:`run_stdio`,
  the stdio plumbing (stdin and stdout claimed, lines read with cancellable
  waits and the size limit, signals).
- :mod:`~claude_pm.mcp_server.http`: :class:`HttpOptions`, :func:`is_loopback`,
  :func:`require_bearer_token`, the Origin and message checks, and
  :func:`run_http`, streamable HTTP under uvicorn.

The MCP SDK costs about a second to import: every module imports it inside the
functions that need it, and only ``claude-pm mcp`` calls them.
"""

from claude_pm.mcp_server.calls import SHUTDOWN_GRACE_S, InFlightCalls
from claude_pm.mcp_server.http import (
    DEFAULT_HTTP_HOST,
    DEFAULT_HTTP_PORT,
    HTTP_PATH,
    HttpOptions,
    is_loopback,
    require_bearer_token,
    run_http,
)
from claude_pm.mcp_server.server import MAX_CONCURRENT_CALLS, SERVER_NAME, build_server
from claude_pm.mcp_server.stdio import run_stdio, serve_stdio
from claude_pm.mcp_server.wire import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH

__all__ = [
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
    "HTTP_PATH",
    "MAX_CONCURRENT_CALLS",
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_DEPTH",
    "SERVER_NAME",
    "SHUTDOWN_GRACE_S",
    "HttpOptions",
    "InFlightCalls",
    "build_server",
    "is_loopback",
    "require_bearer_token",
    "run_http",
    "run_stdio",
    "serve_stdio",
]
