"""Tickets: extract findings from agent output, store them deduplicated, export them."""

from claude_pm.tickets.extractor import extract_lines, extract_path, extract_text, iter_extract
from claude_pm.tickets.model import (
    Priority,
    SavedTicket,
    StoredTicket,
    Ticket,
    TicketStatus,
    TicketType,
)
from claude_pm.tickets.store import TicketStore

__all__ = [
    "Priority",
    "SavedTicket",
    "StoredTicket",
    "Ticket",
    "TicketStatus",
    "TicketStore",
    "TicketType",
    "extract_lines",
    "extract_path",
    "extract_text",
    "iter_extract",
]
