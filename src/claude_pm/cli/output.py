"""Printing for the CLI: JSON for programs, rich text for people, plain text in a pipe.

Every command that prints data takes ``--json`` (:func:`add_json_flag`); the
list commands also take ``--format table|tsv|json`` (:func:`add_format_flags`):
a rich table on a terminal, and in a pipe one record a line, tab-separated,
never wrapped or padded (:func:`print_rows`). Human values (durations, times,
how a process ended) are written by the helpers here, so they read the same
in every command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    """How a list command prints its records."""

    TABLE = "table"
    TSV = "tsv"
    JSON = "json"


def add_json_flag(parser: argparse.ArgumentParser, help: str = "print JSON") -> None:
    """``--json``: the data as one JSON document on stdout (errors too, see the guard)."""
    parser.add_argument("--json", action="store_true", help=help)


def add_format_flags(parser: argparse.ArgumentParser, columns: str) -> None:
    """``--format table|tsv|json`` and ``--json`` of a list command; ``columns`` names the TSV's."""
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=[f.value for f in Format],
        default=None,
        help="table (the default on a terminal), tsv (the default in a pipe: one record a "
        f"line, tab-separated, no header: {columns}) or json",
    )
    add_json_flag(parser, help="print JSON (same as --format json)")


def output_format(args: argparse.Namespace) -> Format:
    """The format asked for, else table on a terminal and tsv in a pipe."""
    if getattr(args, "json", False):
        return Format.JSON
    chosen = getattr(args, "output_format", None)
    if chosen is not None:
        return Format(chosen)
    return Format.TABLE if sys.stdout.isatty() else Format.TSV


def wants_json(args: argparse.Namespace) -> bool:
    """Whether the command prints JSON (``--json`` or ``--format json``)."""
    return bool(getattr(args, "json", False)) or getattr(args, "output_format", None) == "json"


def quiet(args: argparse.Namespace) -> bool:
    """``-q``: no progress, live views or notes on stderr (errors and warnings stay)."""
    return bool(getattr(args, "quiet", False))


def print_json(value: Any) -> None:
    """Indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def error(message: str) -> None:
    """A message for people on stderr, prefixed so it is clear where it comes from."""
    sys.stderr.write(f"claude-pm: error: {message}\n")


def note(args: argparse.Namespace, message: str) -> None:
    """An informational line on stderr, unless ``-q``."""
    if not quiet(args):
        sys.stderr.write(f"claude-pm: {message}\n")


def console(*, stderr: bool = False) -> Any:
    """A rich console that never wraps its lines where they are not read by people."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, highlight=False, soft_wrap=not stream.isatty())


def tsv_cell(value: Any) -> str:
    """One TSV field: None is empty; tabs and line breaks become spaces."""
    if value is None:
        return ""
    text = str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def write_tsv(rows: Iterable[Sequence[Any]]) -> int:
    """Rows as tab-separated lines on stdout; returns how many."""
    count = 0
    for row in rows:
        sys.stdout.write("\t".join(tsv_cell(v) for v in row) + "\n")
        count += 1
    return count


#: Widest a table column other than the ``wide`` one grows (longer cells end in "…").
MAX_COLUMN = 40
#: Narrowest the ``wide`` column gets on a narrow terminal.
MIN_WIDE = 12


def print_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: Format,
    *,
    title: str | None = None,
    wide: str | None = None,
    caps: Mapping[str, int] | None = None,
) -> None:
    """Records as a table (on a terminal) or TSV; ``wide``: the column cut to the width.

    In a table, the other columns are as wide as their widest cell, at most
    ``caps[column]`` (else :data:`MAX_COLUMN`) characters, and ``wide`` takes what is left.

    The table's cells are text, never rich markup. JSON is the command's own
    document: print it with :func:`print_json`.
    """
    if fmt is Format.TSV:
        write_tsv(rows)
        return
    from rich.table import Table
    from rich.text import Text

    out = console()
    cells = [[tsv_cell(v) for v in row] for row in rows]
    # Fixed widths: rich would shrink every column alike; only ``wide`` gives way here.
    widths = [
        min((caps or {}).get(column, MAX_COLUMN), max([len(column), *(len(r[i]) for r in cells)]))
        for i, column in enumerate(columns)
    ]
    if wide is not None and wide in columns:
        i = list(columns).index(wide)
        room = out.width - 2 * (len(columns) - 1) - MIN_WIDE
        # Too wide: narrow the widest middle column first, never the first (the key).
        while sum(w for n, w in enumerate(widths) if n != i) > room:
            middle = [n for n in range(1, len(widths)) if n != i and widths[n] > len(columns[n])]
            if not middle:
                break
            widest = max(middle, key=lambda n: widths[n])
            widths[widest] -= 1
        others = sum(w for n, w in enumerate(widths) if n != i)
        widths[i] = max(MIN_WIDE, out.width - others - 2 * (len(columns) - 1))
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column, no_wrap=True, overflow="ellipsis", width=width)
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    out.print(table)


# -- human values -----------------------------------------------------------------------


def human_duration(seconds: float | None) -> str:
    """``0.04 s``, ``2.31 s``, ``4 min 12 s``, ``2 h 3 min``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def local_time(epoch_s: float | None) -> str:
    """A moment as local ISO 8601 without microseconds (``2026-11-25T21:11:40+01:00``)."""
    if epoch_s is None:
        return ""
    from datetime import datetime

    return datetime.fromtimestamp(epoch_s).astimezone().replace(microsecond=0).isoformat()


def describe_exit(exit_code: int | None, signum: int | None) -> str:
    """How a process ended: ``exit 0``, ``exit 5``, ``killed by SIGKILL``, or empty."""
    from claude_pm.agents.values import signal_name

    if signum is not None:
        return f"killed by {signal_name(signum)}"
    if exit_code is not None and exit_code < 0:  # what subprocess says of a signal death
        return f"killed by {signal_name(-exit_code)}"
    return f"exit {exit_code}" if exit_code is not None else ""


def megabytes(n_bytes: int | None) -> str:
    """``12.3 MB``; empty for None."""
    return "" if n_bytes is None else f"{n_bytes / (1024 * 1024):.1f} MB"
