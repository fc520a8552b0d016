"""``create_tickets_from_output``: find items in text and, if asked, store them as tickets."""

from __future__ import annotations

from typing import Any

from claude_pm.errors import InvalidInput
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.store import SavedTicket, TicketStore
from claude_pm.tools.results import tickets_result
from claude_pm.tools.services import CallOptions, ToolServices


def create_tickets_from_output(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """Extract tickets from ``output_text``; with ``auto_create``, store them deduplicated.

    Without ``auto_create`` nothing is stored. The result's fields are
    described in :mod:`claude_pm.tools.results`.

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
    tickets = extract_text(text, args["source_agent"])
    call.progress(f"found {len(tickets)} ticket(s)", len(tickets), len(tickets))
    saved: list[SavedTicket] = []
    if auto_create and tickets:
        saved = TicketStore(services.database).save(tickets)
    return tickets_result(
        tickets,
        saved,
        auto_create=auto_create,
        max_tickets_listed=services.settings.max_tickets_listed,
    )
