"""A stand-in for the ``claude`` CLI: replays a recorded stream-json session, then misbehaves.

Run by the ``claude-code`` backend through an executable wrapper that
:func:`install` writes (select it with ``CLAUDE_PM_CLAUDE_PATH``)::

    python claude_cli.py --record FILE [--stream FILE] [--then exit|linger|deaf]
                         [--exit-code N] -- CLAUDE-ARGS...

First it records what it was given (argv, environment, working directory,
standard input, pid) as JSON in ``--record``, so a test can check what the
backend passed. Then it writes the stream's lines to stdout, filling in
``{session_id}`` (the ``--session-id`` it got), ``{cwd}``, ``{tmp}`` and
``{port}``. Then, by ``--then``: ``exit`` with ``--exit-code`` (default 0),
``linger`` (sleep until a signal ends it), or ``deaf`` (ignore SIGTERM and
sleep: only SIGKILL ends it).

The streams in ``claude_streams/`` were recorded from Claude Code 2.1.332
against :mod:`fakes.claude_code_api` and trimmed (the ``init`` event keeps the
fields that matter). ``rate_limited.jsonl`` also carries a
``rate_limit_event``, written after the CLI's own schema: the CLI sends it for
subscription limits only, which no API key can make it do.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

STREAMS = Path(__file__).resolve().parent / "claude_streams"


def install(
    directory: Path,
    *,
    stream: str | Path | None = None,
    then: str = "exit",
    exit_code: int = 0,
) -> tuple[Path, Path]:
    """Write an executable ``claude`` wrapper in ``directory``; returns it and its record file.

    ``stream`` is a file name in :data:`STREAMS` or a path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    record = directory / "claude-record.json"
    args = [sys.executable, str(Path(__file__).resolve()), "--record", str(record)]
    if stream is not None:
        path = Path(stream) if Path(stream).is_absolute() else STREAMS / stream
        args += ["--stream", str(path)]
    args += ["--then", then, "--exit-code", str(exit_code), "--"]
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
    wrapper = directory / "claude"
    wrapper.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper, record


def _option(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    split = argv.index("--")
    own, claude_args = argv[:split], argv[split + 1 :]
    record = Path(own[own.index("--record") + 1])
    stream = Path(own[own.index("--stream") + 1]) if "--stream" in own else None
    then = own[own.index("--then") + 1]
    exit_code = int(own[own.index("--exit-code") + 1])
    if then == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin = sys.stdin.read()
    facts = {
        "argv": claude_args,
        "env": dict(os.environ),
        "cwd": str(Path.cwd()),
        "stdin": stdin,
        "pid": os.getpid(),
    }
    temporary = record.with_suffix(".tmp")
    temporary.write_text(json.dumps(facts), encoding="utf-8")
    temporary.replace(record)
    values = {
        "{session_id}": _option(claude_args, "--session-id") or "no-session-id",
        "{cwd}": str(Path.cwd()),
        "{tmp}": os.environ.get("TMPDIR", "/tmp"),
        "{port}": "9",
    }
    if stream is not None:
        for line in stream.read_text(encoding="utf-8").splitlines():
            for key, value in values.items():
                line = line.replace(key, value)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    if then in ("linger", "deaf"):
        while True:
            time.sleep(3600)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
