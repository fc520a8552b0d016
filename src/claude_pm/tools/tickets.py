"""``create_tickets_from_output``: find items in text and, if asked, store them as tickets."""

from __future__ import annotations

from typing import Any

from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.store import TicketStore
from claude_pm.tools.services import CallOptions, ToolServices


def create_tickets_from_output(
    services: ToolServices, args: dict[str, Any], call: CallOptions
) -> dict[str, Any]:
    """Extract tickets from ``output_text``; with ``auto_create``, store them deduplicated.

    The result has the reference design's fields: ``tickets_found``,
    ``tickets_created`` (tickets new to the store), ``auto_create_enabled``,
    ``ticket_details`` (every ticket found) and ``created_tickets`` (every
    ticket stored, with its real id, ``duplicate`` and ``times_seen``), plus
    ``duplicates`` (ids of findings that were already stored) and
    ``tickets_updated`` (how many). Without ``auto_create`` nothing is stored.

    Raises:
        StoreError: the state database cannot be written.
    """
    auto_create = bool(args.get("auto_create", False))
    tickets = extract_text(args["output_text"], args["source_agent"])
    call.progress(f"found {len(tickets)} ticket(s)", len(tickets), len(tickets))
    created: list[dict[str, Any]] = []
    duplicates: list[str] = []
    if auto_create and tickets:
        saved = TicketStore(services.database).save(tickets)
        created = [s.to_dict() for s in saved]
        duplicates = list(dict.fromkeys(s.id for s in saved if s.duplicate))
    new_count = sum(1 for item in created if not item["duplicate"])
    return {
        "success": True,
        "tickets_found": len(tickets),
        "tickets_created": new_count,
        "tickets_updated": len(created) - new_count,
        "auto_create_enabled": auto_create,
        "ticket_details": [t.to_dict() for t in tickets],
        "created_tickets": created,
        "duplicates": duplicates,
    }
