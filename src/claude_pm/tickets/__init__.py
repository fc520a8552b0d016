"""Tickets: extract findings from agent output, store them deduplicated, export them."""

from claude_pm.tickets.extractor import (
    extract_lines,
    extract_path,
    extract_text,
    iter_counted,
    iter_extract,
)
from claude_pm.tickets.location import Location, split_location
from claude_pm.tickets.model import (
    Priority,
    SavedTicket,
    StoredTicket,
    Ticket,
    TicketLine,
    TicketStatus,
    TicketType,
)
from claude_pm.tickets.store import TicketStore
from claude_pm.tickets.summary import TicketSummary

__all__ = [
    "Location",
    "Priority",
    "SavedTicket",
    "StoredTicket",
    "Ticket",
    "TicketLine",
    "TicketStatus",
    "TicketStore",
    "TicketSummary",
    "TicketType",
    "extract_lines",
    "extract_path",
    "extract_text",
    "iter_counted",
    "iter_extract",
    "split_location",
]
