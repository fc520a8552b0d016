"""A separate process that saves tickets, for the concurrency tests.

``python store_writer.py DB WORKER SHARED OWN START_FILE``: waits until
START_FILE exists, saves SHARED tickets every worker saves and OWN tickets only
this one saves, interleaved and one small batch at a time, then prints the
saved ids and duplicate flags as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from claude_pm.state import Database
from claude_pm.tickets.extractor import extract_text
from claude_pm.tickets.store import TicketStore


def main() -> None:
    db_path, worker, shared, own, start_file = sys.argv[1:6]
    lines = []
    for i in range(max(int(shared), int(own))):
        if i < int(shared):
            lines.append(f"BUG: shared finding {i}")
        if i < int(own):
            lines.append(f"TODO: worker {worker} finding {i}")
    tickets = extract_text("\n".join(lines), f"agent-{worker}")
    store = TicketStore(Database(Path(db_path)))
    deadline = time.monotonic() + 30
    while not Path(start_file).exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    saved = []
    for start in range(0, len(tickets), 7):
        saved += store.save(tickets[start : start + 7], source_run=f"run-{worker}")
    json.dump([[s.id, s.ticket.title, s.duplicate] for s in saved], sys.stdout)


if __name__ == "__main__":
    main()
