"""code-scanner: a claude-pm command agent that reports the TODO and FIXME comments it finds.

claude-pm starts it with the hand-off file's path as its argument (the agent's
``{context_file}`` placeholder; ``CLAUDE_PM_CONTEXT_FILE`` names the same file).
What it prints is its report: a line starting with ``TODO:`` or ``FIXME:``
becomes a ticket. It writes a small ``result.json`` where
``CLAUDE_PM_RESULT_FILE`` says, and exits 0 when it did its job.
"""

import json
import os
import pathlib
import re
import sys

MARKER = re.compile(r"#\s*(TODO|FIXME)\b[:\s]*(.*)")

with open(sys.argv[1], encoding="utf-8") as f:
    handoff = json.load(f)
root = pathlib.Path(handoff["project_root"])
wanted = [pathlib.Path(p) for p in handoff["context"].get("file_paths", [])] or [root]

print("# code-scanner report")
print("Task:", handoff["task"])
found = read = 0
for base in wanted:
    for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # .git, .venv, .claude ...
        read += 1
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                found += 1
                kind, what = match.groups()
                print(f"{kind}: {relative.as_posix()}:{number}: {what.strip() or 'no text'}")
print(f"Summary: {found} comment(s) in {read} Python file(s).")

report = {"version": 1, "backend": "command", "stop_reason": "completed"}
with open(os.environ["CLAUDE_PM_RESULT_FILE"], "w", encoding="utf-8") as f:
    json.dump(report, f)
