"""researcher: answer "where is X?" by searching the project's text files.

How it searches
    The task is cut into terms: words and identifiers, identifiers also split
    at ``snake_case`` and ``camelCase`` boundaries, lower-cased, English and
    question stop words dropped, a light stemming applied (``retries`` and
    ``retry``, ``tests`` and ``test`` meet). Every text file is read once; a
    line matches a term when one of its words (cut and stemmed the same way)
    equals it. Rare terms weigh more: a term's weight is
    ``log(1 + files / files_with_term)``. A file scores the sum, over the
    terms it holds, of weight times ``1 + log(occurrences)``, plus the weight
    again for each term in its path; its best lines are those holding the
    most weight.

Output
    The question, the terms with their weights, then the best files (at most
    ``max_results``) each with its best lines (at most ``lines_per_file``) as
    ``path:line: text``. It reports where things are; it files nothing (no
    findings). A task with no searchable term exits 65.

Context keys read
    ``research_sources`` (a list of project paths: search only there),
    ``analysis_config`` (a mapping; its option names below override
    ``backend_options``).

Options
    ``max_results`` (default 10), ``lines_per_file`` (default 3),
    ``max_total_bytes`` (bytes read in all, default 64 MiB), and the common
    ones.

Limits
    ``max_files`` files read at most, each at most ``max_file_bytes``, and
    ``max_total_bytes`` in all; binary files (a NUL byte in their first 8 KiB)
    are skipped; each file keeps at most ``3 * lines_per_file`` candidate
    lines (50 at most), those holding the most distinct terms.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import EXIT_OK, BadInput, ToolchainRequest
from claude_pm.agents.toolchain.walking import project_files, read_text, relative_paths

TITLE = "Research report"
CONTEXT_KEYS = ("research_sources", "analysis_config")
OPTIONS = (
    Option("max_results", "int", 10, "files shown at most", minimum=1, maximum=1000),
    Option("lines_per_file", "int", 3, "lines shown per file at most", minimum=1, maximum=100),
    Option(
        "max_total_bytes",
        "int",
        64 * 1024 * 1024,
        "bytes read over all files at most",
        minimum=1,
    ),
)

_STOP_WORDS_TEXT = """
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each few for from
further had has have having he her here hers him his how i if in into is it its itself
just me more most my no nor not now of off on once only or other our out over own same
she should so some such than that the their them then there these they this those
through to too under until up very was we were what when where which while who whom why
will with would you your find show tell explain look see get make use used using code
project file files line lines function functions defined define implemented implement
happen happens handled handle thing things way work works please want need know does
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
BINARY_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf", ".zip", ".gz", ".tgz", ".bz2", ".xz",
    ".whl", ".so", ".dll", ".dylib", ".pyc", ".woff", ".woff2", ".ttf", ".mp3", ".mp4",
    ".sqlite", ".db", ".bin", ".exe", ".jar", ".class",
)  # fmt: skip
MAX_LINES_KEPT = 50
MAX_LINE_SHOWN = 160
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d{2,}")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def stem(word: str) -> str:
    """A light stemmer: ``retries`` -> ``retry``; ``computed`` and ``computing`` -> ``comput``."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def words(text: str) -> list[str]:
    """The stemmed, lower-cased words of ``text``: identifiers whole and in parts."""
    out = []
    for token in _WORD.findall(text):
        lower = token.lower()
        out.append(stem(lower))
        parts = [p.lower() for chunk in token.split("_") for p in _CAMEL.findall(chunk)]
        if len(parts) > 1:
            out.extend(stem(p) for p in parts if len(p) > 1)
    return out


def terms_of(task: str) -> list[str]:
    """The search terms of a question, in order of first appearance, stop words dropped."""
    seen: dict[str, None] = {}
    for token in _WORD.findall(task):
        if token.lower() in STOP_WORDS or len(token) < 2:
            continue
        for word in words(token):
            if word not in STOP_WORDS and len(word) > 1:
                seen.setdefault(word, None)
    return list(seen)


@dataclass
class _FileHits:
    rel: str
    counts: Counter[str] = field(default_factory=Counter)
    lines: list[tuple[int, frozenset[str], str]] = field(default_factory=list)


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Rank the project's files and lines by the task's terms."""
    root = request.project_root
    terms = terms_of(request.task)
    if not terms:
        raise BadInput(
            "the task has no searchable term (only stop words or nothing); ask about a name, "
            "an error message or a concept",
            field="task",
        )
    report.section("Question")
    report.lines(request.task.strip().splitlines()[:20])
    focus, refused = relative_paths(root, request.context.get("research_sources"))
    report.section("What ran")
    for path in refused:
        report.skipped(f"research_sources entry {path!r}", "not found inside the project")
    files = project_files(
        root,
        request.run_dir,
        want=lambda rel: not rel.lower().endswith(BINARY_SUFFIXES),
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
        only=focus or None,
    )
    for note in files.skipped_notes(opts["max_files"], opts["max_file_bytes"]):
        report.skipped("search", note)
    wanted = set(terms)
    hits: list[_FileHits] = []
    read = read_bytes = binary = 0
    for file in files.files:
        if read_bytes + file.size > opts["max_total_bytes"]:
            report.skipped(
                "search",
                f"stopped after {read} file(s): {opts['max_total_bytes']} bytes read "
                "(option max_total_bytes)",
            )
            break
        text = read_text(file)
        read_bytes += file.size
        if text is None:
            binary += 1
            continue
        read += 1
        found = _scan(file.rel, text, wanted, keep=min(MAX_LINES_KEPT, 3 * opts["lines_per_file"]))
        if found is not None:
            hits.append(found)
    report.ran(
        f"search of {read} text file(s) for {len(terms)} term(s)", f"{len(hits)} file(s) match"
    )
    if binary:
        report.skipped(f"{binary} file(s)", "binary")
    weights = _weights(terms, hits, max(read, 1))
    report.section("Search terms")
    for term in terms:
        in_files = sum(1 for h in hits if h.counts[term])
        report.line(f"- {term}: weight {weights[term]:.2f}, in {in_files} file(s)")
    ranked = _rank(hits, weights, opts["max_results"])
    report.section("Where to look")
    if not ranked:
        report.line("No file holds any of the terms.")
    for position, (score, file_hits) in enumerate(ranked, start=1):
        held = [t for t in terms if file_hits.counts[t]]
        report.line(f"{position}. {file_hits.rel} (score {score:.1f}; terms: {', '.join(held)})")
        best = heapq.nlargest(
            opts["lines_per_file"],
            file_hits.lines,
            key=lambda item: (sum(weights[t] for t in item[1]), -item[0]),
        )
        for number, _, text in sorted(best):
            report.line(f"    {file_hits.rel}:{number}: {text}")
    report.finish(
        [
            f"terms: {', '.join(terms)}",
            f"files read: {read}; files matching: {len(hits)}; shown: {len(ranked)}",
        ]
    )
    return EXIT_OK


def _scan(rel: str, text: str, wanted: set[str], *, keep: int) -> _FileHits | None:
    found = _FileHits(rel)
    for word in set(words(rel)) & wanted:
        found.counts[f"path:{word}"] += 1
    for number, line in enumerate(text.splitlines(), start=1):
        held = [w for w in words(line) if w in wanted] if len(line) < 10_000 else []
        if not held:
            continue
        found.counts.update(held)
        shown = line.strip()
        if len(shown) > MAX_LINE_SHOWN:
            shown = shown[: MAX_LINE_SHOWN - 1] + "…"
        entry = (number, frozenset(held), shown)
        if len(found.lines) < keep:
            found.lines.append(entry)
        else:
            # Keep the lines holding the most distinct terms.
            worst = min(range(len(found.lines)), key=lambda i: len(found.lines[i][1]))
            if len(found.lines[worst][1]) < len(entry[1]):
                found.lines[worst] = entry
    return found if any(not k.startswith("path:") for k in found.counts) else None


def _weights(terms: list[str], hits: list[_FileHits], total_files: int) -> dict[str, float]:
    weights = {}
    for term in terms:
        df = sum(1 for h in hits if h.counts[term])
        weights[term] = math.log(1 + total_files / df) if df else 0.0
    return weights


def _rank(
    hits: list[_FileHits], weights: dict[str, float], limit: int
) -> list[tuple[float, _FileHits]]:
    scored = []
    for file_hits in hits:
        score = 0.0
        for term, weight in weights.items():
            count = file_hits.counts[term]
            if count:
                score += weight * (1 + math.log(count))
            if file_hits.counts[f"path:{term}"]:
                score += weight
        scored.append((score, file_hits))
    return sorted(scored, key=lambda item: (-item[0], item[1].rel))[:limit]
