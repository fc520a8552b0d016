"""The URIs of what an MCP client reads on demand, instead of in every tool result.

A tool result stays small (an agent's report is capped); what it leaves out
is served by claude-pm's MCP server as resources, named here so that the
results' ``read_more`` and the server agree. A log is read a page of
:data:`PAGE_BYTES` at a time: ``.../report`` is its first page,
``.../report/{page}`` any page (1-based).
"""

from __future__ import annotations

from typing import Final

SCHEME: Final = "claude-pm"
#: Bytes of a log in one page of a ``report`` or ``stderr`` resource.
PAGE_BYTES: Final = 64 * 1024

TICKETS_URI: Final = f"{SCHEME}://tickets"
TICKET_TEMPLATE: Final = f"{SCHEME}://tickets/{{ticket_id}}"
RUN_REPORT_TEMPLATE: Final = f"{SCHEME}://runs/{{run_id}}/report"
RUN_REPORT_PAGE_TEMPLATE: Final = f"{SCHEME}://runs/{{run_id}}/report/{{page}}"
RUN_STDERR_TEMPLATE: Final = f"{SCHEME}://runs/{{run_id}}/stderr"
RUN_STDERR_PAGE_TEMPLATE: Final = f"{SCHEME}://runs/{{run_id}}/stderr/{{page}}"
AGENT_TEMPLATE: Final = f"{SCHEME}://agents/{{agent_type}}"

#: The two logs of a run a client may read, by the name in their URI.
RUN_LOGS: Final = ("report", "stderr")


def ticket_uri(ticket_id: str) -> str:
    return TICKET_TEMPLATE.format(ticket_id=ticket_id)


def run_log_uri(run_id: str, log: str = "report", page: int | None = None) -> str:
    """The URI of a run's ``report`` (stdout) or ``stderr``, of one page when ``page`` is given."""
    base = f"{SCHEME}://runs/{run_id}/{log}"
    return base if page is None else f"{base}/{page}"


def agent_uri(agent_type: str) -> str:
    return AGENT_TEMPLATE.format(agent_type=agent_type)
