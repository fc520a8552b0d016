"""Write an agent's report: readable text whose findings, and only those, are marker lines.

The shape of a report::

    # QA report
    Task: run the tests
    ## What ran
    - ran: python -m pytest ... (exit 1, 2.3 s)
    - skipped: coverage: coverage is not installed for /usr/bin/python3
    (sections of the agent's own: search results, a changelog draft...)
    ## Findings
    BUG: tests/test_money.py:12: test tests/test_money.py::test_split failed (AssertionError)
        assert 99 == 100
    ## Summary
    - findings: 1 (BUG 1)
    - skipped: 1

A finding is ``MARKER: path:line: message`` (``MARKER(priority): ...`` when the
severity sets the priority), ``path`` relative to the project root in POSIX
form, on one line; claude-pm's ticket extractor files each as a ticket whose
title is ``path:line: message``. So that the same finding files the same ticket
on the next run, messages carry no counts, timings or percentages: those go on
the detail lines under the finding.

No other line may look like an item to the extractor. Every other line the
report writes (headings, tool output, source text, commit subjects, ticket
titles) goes through :func:`neutralize`, which quotes any marker word followed
by a colon (``TODO:`` becomes ```TODO`:``) wherever it stands on the line; the
extractor only sees a marker directly after the start of a line, a comment
leader, a bullet or white space, so a back-quoted one is never an item.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

MARKERS = ("BUG", "SECURITY", "TODO", "REFACTOR", "PERFORMANCE", "FEATURE", "FIXME")
PRIORITIES = ("high", "medium", "low")
MAX_MESSAGE_CHARS = 240
MAX_DETAIL_CHARS = 400
MAX_ARGV_SHOWN = 12

_MARKER_WORD = re.compile(
    r"\b(todo|fixme|bug|feature|security|performance|refactor)\b"
    r"(?=[ \t]*(?:[(\[][^)\]\n]{0,40}[)\]])?[ \t]*:)",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


def neutralize(text: str) -> str:
    """``text`` on one line, with every marker-word-and-colon quoted so it is no item."""
    flat = _SPACES.sub(" ", text) if ("\n" in text or "\r" in text) else text
    return _MARKER_WORD.sub(lambda m: f"`{m.group(1)}`", flat)


def _one_line(text: str, limit: int) -> str:
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def show_argv(argv: Sequence[str], project_root: Path, run_dir: Path) -> str:
    """A command for the report: run-dir and project paths shortened, long file lists cut."""
    shown = []
    root, run = str(project_root), str(run_dir)
    for arg in argv[:MAX_ARGV_SHOWN]:
        text = arg.replace(run, "$RUN_DIR") if run in arg else arg
        if text.startswith(root + "/"):
            text = text[len(root) + 1 :]
        elif text == root:
            text = "."
        shown.append(text if text and " " not in text else repr(text))
    if len(argv) > MAX_ARGV_SHOWN:
        shown.append(f"... ({len(argv) - MAX_ARGV_SHOWN} more arguments)")
    return " ".join(shown)


class Report:
    """A report written to ``out`` as the agent goes (findings last), closed by :meth:`finish`."""

    def __init__(self, out: TextIO, title: str, *, max_findings: int = 1000) -> None:
        self.out = out
        self.max_findings = max_findings
        self.counts: Counter[str] = Counter()
        self.not_shown = 0
        self.skips: list[str] = []
        self.ran_count = 0
        self._seen: set[tuple[str, str, int, str]] = set()
        self._findings: list[str] = []
        self.line(f"# {title}")

    # Plain text -----------------------------------------------------------
    def line(self, text: str = "") -> None:
        """One line of text (never an item)."""
        self.out.write(neutralize(text) + "\n")

    def lines(self, texts: Iterable[str], *, indent: str = "") -> None:
        """Several lines of text, e.g. tool output or a changelog draft (never items)."""
        for text in texts:
            self.line(indent + text)

    def task(self, task: str) -> None:
        """The ``Task:`` line: the task's first line, cut to a readable length."""
        first = task.strip().splitlines()[0] if task.strip() else "(none)"
        self.line(f"Task: {_one_line(first, MAX_DETAIL_CHARS)}")

    def section(self, name: str) -> None:
        """A ``## name`` heading."""
        self.line()
        self.line(f"## {name}")

    def ran(self, what: str, outcome: str) -> None:
        """Record a command or check that ran, with its outcome."""
        self.ran_count += 1
        self.line(f"- ran: {what} ({outcome})")

    def skipped(self, what: str, why: str) -> None:
        """Record something not done, and why (repeated in the summary)."""
        self.skips.append(f"{what}: {why}")
        self.line(f"- skipped: {what}: {why}")

    # Findings -------------------------------------------------------------
    def finding(
        self,
        marker: str,
        path: str,
        line: int,
        message: str,
        *,
        priority: str | None = None,
        details: Iterable[str] = (),
    ) -> None:
        """One finding: ``MARKER(priority): path:line: message``, then indented details.

        Findings are kept (at most ``max_findings``; the rest are counted) and
        written together under ``## Findings`` by :meth:`finish`, after what
        ran. The same (marker, path, line, message) is written once per report.
        """
        if marker not in MARKERS:
            raise ValueError(f"unknown marker {marker!r}; use one of {', '.join(MARKERS)}")
        if priority is not None and priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r}; use one of {PRIORITIES}")
        text = _one_line(message, MAX_MESSAGE_CHARS) or "(no message)"
        if text.endswith("]"):
            # A bracketed word at the end of a title would be read as a priority tag.
            text += "."
        key = (marker, path, line, text)
        if key in self._seen:
            return
        self._seen.add(key)
        self.counts[marker] += 1
        if sum(self.counts.values()) > self.max_findings:
            self.not_shown += 1
            return
        tag = f"({priority})" if priority else ""
        self._findings.append(f"{marker}{tag}: {path}:{max(line, 1)}: {text}\n")
        self._findings.extend(
            neutralize("    " + _one_line(detail, MAX_DETAIL_CHARS)) + "\n" for detail in details
        )

    @property
    def total_findings(self) -> int:
        """Findings counted so far (written or not)."""
        return sum(self.counts.values())

    def finish(self, summary: Iterable[str] = ()) -> None:
        """Write ``## Findings``, then ``## Summary`` (counts, skips, the agent's lines)."""
        if self._findings:
            self.section("Findings")
            self.out.writelines(self._findings)
            self._findings = []
        self.section("Summary")
        total = self.total_findings
        if total:
            by_marker = ", ".join(f"{m} {self.counts[m]}" for m in MARKERS if self.counts[m])
            self.line(f"- findings: {total} ({by_marker})")
        else:
            self.line("- findings: none")
        if self.not_shown:
            self.line(
                f"- {self.not_shown} finding(s) not written: the limit is "
                f"{self.max_findings} (option max_findings)"
            )
        for text in summary:
            self.line(f"- {text}")
        self.line(f"- skipped: {len(self.skips)}" + (" (see above)" if self.skips else ""))
        self.out.flush()
