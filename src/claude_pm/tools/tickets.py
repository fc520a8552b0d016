"""``create_tickets_from_output``: find items in text and, if asked, store them as tickets."""

from __future__ import annotations

from typing import Any

from claude_pm.errors import InvalidInput
from claude_pm.tickets.extractor import iter_counted, text_blocks
from claude_pm.tickets.store import TicketStore
from claude_pm.tickets.summary import TicketSummary, summarize
from claude_pm.tools.results import tickets_result
from claude_pm.tools.services import CallOptions, ToolServices


def create_tickets_from_output(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """Extract tickets from ``output_text``; with ``auto_create``, store them deduplicated.

    Without ``auto_create`` nothing is stored. The findings are streamed into
    the store in batches and counted: the result holds the counts and the
    first ``max_tickets_listed`` of each list, whatever the number of
    findings (its fields are described in :mod:`claude_pm.tools.results`).
    Stored tickets are recorded under a new run id (``extract-<hex>``).

    Raises:
        InvalidInput: ``output_text`` is larger than ``max_ticket_input_bytes``.
        StoreError: the state database cannot be written.
    """
    text: str = args["output_text"]
    limit = services.settings.max_ticket_input_bytes
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > limit:
        raise InvalidInput(
            f"output_text is {size} bytes; create_tickets_from_output takes at most {limit} "
            "bytes (the max_ticket_input_bytes setting). Send the part with the findings, or "
            "split it over several calls.",
            field="output_text",
            expected=f"at most {limit} bytes",
        )
    auto_create = bool(args.get("auto_create", False))
    keep = services.settings.max_tickets_listed
    findings = iter_counted(
        text_blocks(text), args["source_agent"], project_root=services.settings.project_root
    )
    summary: TicketSummary
    if auto_create:
        summary = TicketStore(services.database).save_counted(findings, keep=keep)
    else:
        summary = summarize(findings, keep)
    call.progress(f"found {summary.found} ticket(s)", summary.found, summary.found)
    return tickets_result(summary, auto_create=auto_create, max_tickets_listed=keep)
