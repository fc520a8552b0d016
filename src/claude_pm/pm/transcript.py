"""The PM loop's transcript: the loop's events as JSON lines, and a readable rendering.

A run directory (``<state_dir>/pm/<run_id>/``) holds ``transcript.jsonl`` (one
:class:`~claude_pm.llm.types.LoopEvent` per line, everything the loop saw and
did, the system prompt and full tool results included), ``transcript.txt``
(what ``claude-pm pm`` printed) and ``result.json`` (how the run ended).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from claude_pm.llm.types import EventKind, LoopEvent

#: Characters of an agent's output shown in the readable transcript.
OUTPUT_EXCERPT_CHARS = 1200


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _excerpt(text: str, limit: int = OUTPUT_EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " [...]"


def _agent_result(result: Mapping[str, Any]) -> list[str]:
    status = result.get("status", "?")
    facts = []
    if result.get("exit_code") is not None:
        facts.append(f"exit {result['exit_code']}")
    if result.get("execution_time_seconds") is not None:
        facts.append(f"{result['execution_time_seconds']} s")
    if result.get("peak_memory_mb") is not None:
        facts.append(f"peak {result['peak_memory_mb']} MB")
    lines = [f"agent {result.get('agent_type', '?')}: {status} ({', '.join(facts)})"]
    if result.get("error"):
        lines.append(f"  problem: {result['error']}")
    output = str(result.get("output") or "")
    if output.strip():
        lines.append("  output:")
        lines.append(_indent(_excerpt(output)))
    tickets = result.get("tickets_created") or []
    if tickets:
        lines.append(f"  tickets: {', '.join(str(t) for t in tickets)}")
    return lines


def _count(result: Mapping[str, Any], *keys: str) -> int:
    """The first of ``keys`` present, as a number (a list counts its items)."""
    for key in keys:
        value = result.get(key)
        if isinstance(value, list):
            return len(value)
        if isinstance(value, int):
            return value
    return 0


def _tickets(result: Mapping[str, Any]) -> list[str]:
    stored = result.get("created_tickets") or []
    found = result.get("ticket_details") or []
    listed = stored or found
    head = f"tickets: {result.get('tickets_found', len(found))} found"
    if result.get("auto_create_enabled"):
        new = _count(result, "tickets_created_count", "tickets_created")
        again = _count(result, "duplicate_tickets_count", "duplicate_tickets")
        head += f", {new} new, {again} already filed"
    lines = [head]
    for ticket in listed[:20]:
        if isinstance(ticket, Mapping):
            ident = ticket.get("id") or "-"
            kind = ticket.get("type") or ticket.get("ticket_type") or ""
            title = ticket.get("title") or ticket.get("description") or ""
            lines.append(f"  {ident} {kind} {title}".rstrip())
    if len(listed) > 20:
        lines.append(f"  ... and {len(listed) - 20} more")
    return lines


def _agents(result: Mapping[str, Any]) -> list[str]:
    agents = result.get("available_agents") or []
    names = []
    for agent in agents:
        if isinstance(agent, Mapping):
            names.append(str(agent.get("type") or agent.get("name") or "?"))
        else:
            names.append(str(agent))
    return [f"agents: {len(names)} available: {', '.join(names)}"]


def render_result(tool_name: str, result: Mapping[str, Any]) -> list[str]:
    """Readable lines for one tool result."""
    if "error" in result and tool_name != "execute_agent_subprocess":
        return [f"error ({result.get('error_type', 'error')}): {result['error']}"]
    if tool_name == "execute_agent_subprocess":
        if "status" not in result:
            return [f"error ({result.get('error_type', 'error')}): {result.get('error')}"]
        return _agent_result(result)
    if tool_name == "create_tickets_from_output":
        return _tickets(result)
    if tool_name == "discover_available_agents":
        return _agents(result)
    return [_excerpt(json.dumps(result, default=str), 400)]


def render_event(event: LoopEvent) -> str:
    """The readable text for one event ('' for events not worth a line)."""
    data = event.data
    kind = event.kind
    if kind is EventKind.GOAL:
        return f"Goal: {data['goal']}\n(model {data.get('model')}, run {data.get('run_id')})"
    if kind is EventKind.ASSISTANT_TEXT:
        return f"\n[turn {event.turn}] PM:\n{_indent(str(data['text']), '  ')}"
    if kind is EventKind.TOOL_CALL:
        arguments = json.dumps(data.get("input"), ensure_ascii=False, default=str)
        return f"-> {data['name']} {_excerpt(arguments, 500)}"
    if kind is EventKind.TOOL_PROGRESS:
        return f"   ... {data['message']}"
    if kind is EventKind.TOOL_RESULT:
        lines = render_result(str(data["name"]), data.get("result") or {})
        return "<- " + lines[0] + ("\n" + "\n".join(lines[1:]) if len(lines) > 1 else "")
    if kind is EventKind.API_ERROR:
        return f"!! {data.get('api') or 'model API'} error: {data['message']}"
    if kind is EventKind.STOP:
        usage = data.get("usage") or {}
        cost = data.get("cost_usd")
        return (
            f"\nStopped: {data['reason']} after {data['turns']} turn(s), "
            f"{data['tool_calls']} tool call(s), {usage.get('total_tokens', 0)} tokens"
            + (f", ${cost:.4f}" if isinstance(cost, (int, float)) else "")
            + (f"\n{data['message']}" if data.get("message") else "")
        )
    return ""


class TranscriptWriter:
    """Append events to ``transcript.jsonl`` and ``transcript.txt`` in one directory (thread-safe).

    With ``directory=None`` nothing is written.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._jsonl: IO[str] | None = None
        self._text: IO[str] | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._jsonl = (directory / "transcript.jsonl").open("a", encoding="utf-8")
            self._text = (directory / "transcript.txt").open("a", encoding="utf-8")

    def write(self, event: LoopEvent) -> None:
        if self._jsonl is None or self._text is None:
            return
        line = json.dumps(event.to_dict(), ensure_ascii=False, default=str)
        text = render_event(event) if event.kind is not EventKind.TOOL_PROGRESS else ""
        with self._lock:
            self._jsonl.write(line + "\n")
            self._jsonl.flush()
            if text:
                self._text.write(text + "\n")
                self._text.flush()

    def write_result(self, summary: Mapping[str, Any]) -> None:
        if self.directory is not None:
            path = self.directory / "result.json"
            path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            for stream in (self._jsonl, self._text):
                if stream is not None:
                    stream.close()
            self._jsonl = self._text = None


__all__ = ["TranscriptWriter", "render_event", "render_result"]
