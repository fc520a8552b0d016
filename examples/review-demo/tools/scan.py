"""A small real review tool: compile every Python file, collect comment markers.

Run by claude-pm's `command` backend: argv[1] is the hand-off file (JSON with the
task, the project root and the context this agent may see); the task text is
also on standard input.
"""

import io
import json
import sys
import tokenize
from pathlib import Path

MARKERS = ("TODO", "FIXME", "BUG")


def python_files(root: Path, focus: list[str]) -> list[Path]:
    targets = [Path(p) for p in focus] or [root]
    found: list[Path] = []
    for target in targets:
        if target.is_file() and target.suffix == ".py":
            found.append(target)
        elif target.is_dir():
            found.extend(p for p in sorted(target.rglob("*.py")) if ".claude" not in p.parts)
    return found


def comment_markers(source: str) -> list[tuple[int, str, str]]:
    items = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type != tokenize.COMMENT:
                continue
            text = tok.string.lstrip("#").strip()
            for marker in MARKERS:
                if text.upper().startswith(marker + ":"):
                    items.append((tok.start[0], marker, text[len(marker) + 1 :].strip()))
    except (tokenize.TokenError, SyntaxError):
        pass
    return items


def main() -> int:
    handoff = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    task = sys.stdin.read().strip()
    root = Path(handoff["project_root"])
    files = python_files(root, handoff["context"].get("file_paths", []))
    print(f"Task: {task}")
    print(f"Scanning {len(files)} Python file(s) under {root.name}/")
    problems = 0
    for path in files:
        rel = path.relative_to(root)
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            compile(source, str(rel), "exec")
        except SyntaxError as e:
            problems += 1
            print(f"BUG: {rel}:{e.lineno} does not compile: {e.msg}")
        for line, marker, text in comment_markers(source):
            problems += 1
            print(f"{marker}: {rel}:{line} {text}")
    print(f"Done: {len(files)} file(s), {problems} finding(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
