"""Parse SQL files with sqlglot, one statement at a time: run by the data_engineer agent.

A standalone script (standard library and sqlglot only; it imports nothing from
claude-pm), so it runs under any interpreter that has sqlglot:
``python -I -B _sql_worker.py JOB.json``. The job file holds ``{"dialect":
name or null, "files": [[rel, absolute path], ...]}``; the answer is one JSON
object per file on standard output:

``{"file": rel, "statements": n, "errors": [[line, keyword, description]],
"commands": [[line, keyword]], "fatal": null}``

``errors`` are statements sqlglot rejects (line = the statement's first line);
``commands`` are statements it could only keep as opaque commands (syntax it
does not model). An unterminated string or comment stops the file's
tokenizer: that is one error at the first statement that does not tokenize,
and the rest of the file is not checked. An unknown dialect is
``{"fatal": "..."}`` and exit 2.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")
_TOKEN = re.compile(r"<Token token_type: TokenType\.(\w+), text: ([^,]*),[^>]*>")


def _clean(description: str) -> str:
    text = _CLASS.sub(r"\1", description)
    text = _TOKEN.sub(
        lambda m: "the end of the statement" if m[1] == "SENTINEL" else repr(m[2]), text
    )
    return " ".join(text.split())[:200]


def _keyword(tokens: list[Any]) -> str:
    return str(tokens[0].text).upper() if tokens else ""


def _check_file(dialect: Any, sqlglot: Any, rel: str, text: str) -> dict[str, Any]:
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError
    from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

    result: dict[str, Any] = {
        "file": rel,
        "statements": 0,
        "errors": [],
        "commands": [],
        "fatal": None,
    }
    try:
        tokens = dialect.tokenize(text)
    except TokenError:
        _first_untokenizable(dialect, text, result)
        return result
    chunks: list[list[Any]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(token)
    for chunk in chunks:
        if not chunk:
            continue
        result["statements"] += 1
        try:
            expressions = dialect.parser().parse(chunk, text)
        except ParseError as e:
            first = e.errors[0] if e.errors else {}
            description = _clean(str(first.get("description") or e))
            where = ""
            if first.get("line"):
                where = f" (line {first.get('line')}, column {first.get('col')})"
            result["errors"].append([chunk[0].line, _keyword(chunk), description + where])
            continue
        if any(isinstance(expression, exp.Command) for expression in expressions):
            result["commands"].append([chunk[0].line, _keyword(chunk)])
    return result


def _first_untokenizable(dialect: Any, text: str, result: dict[str, Any]) -> None:
    from sqlglot.errors import TokenError

    line = 1
    for piece in text.split(";"):
        if piece.strip():
            try:
                dialect.tokenize(piece)
            except TokenError:
                offset = len(piece) - len(piece.lstrip())
                start = line + piece[:offset].count("\n")
                result["statements"] += 1
                result["errors"].append(
                    [start, piece.split()[0].upper(), "unterminated string, identifier or comment"]
                )
                return
            result["statements"] += 1
        line += piece.count("\n")


def main(argv: list[str]) -> int:
    """Check every file of the job; see the module docstring."""
    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
    import sqlglot

    with open(argv[1], encoding="utf-8") as f:  # noqa: PTH123 - standalone script
        job = json.load(f)
    try:
        dialect = sqlglot.Dialect.get_or_raise(job.get("dialect"))
    except ValueError as e:
        print(json.dumps({"fatal": f"unknown SQL dialect {job.get('dialect')!r}: {e}"}))
        return 2
    for rel, path in job["files"]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:  # noqa: PTH123
                text = f.read()
        except OSError as e:
            print(json.dumps({"file": rel, "fatal": f"cannot be read: {e.strerror}"}))
            continue
        print(json.dumps(_check_file(dialect, sqlglot, rel, text)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
