"""engineer: Ruff with a fixed rule set over the Python files; open TODO/FIXME comments.

What runs
    ``python -m ruff check --isolated`` (the project's Ruff configuration is
    not read, so every project is held to the same rules; ``# noqa`` comments
    still apply) with ``--select`` = :data:`RULES`, ``--target-version`` from
    the project's ``requires-python`` (py312 when it has none), JSON output and
    its cache in the run directory (``--cache-dir``).

Findings, by rule (:data:`RULE_MARKERS`, first match wins)
    ======================  ===========  =====================================
    rules                   marker       why
    ======================  ===========  =====================================
    syntax errors, ``E9``   BUG          the file does not parse
    ``F401``                REFACTOR     an unused import: dead code, not a bug
    ``F`` (pyflakes)        BUG          undefined names, unused variables,
                                         redefinitions, bad format strings
    ``B`` (bugbear)         BUG          mutable defaults, ``except:`` ...
    ``PLE`` (pylint errors) BUG          errors pylint is sure of
    ``PERF`` (perflint)     PERFORMANCE  loops that should be comprehensions
    ``SIM``, ``C4``         REFACTOR     simpler forms of the same code
    ``FIX`` (flake8-fixme)  TODO         an open TODO, FIXME, XXX or HACK
                                         comment (its text is the message)
    ======================  ===========  =====================================

Fixing
    With ``fix: true`` Ruff first shows the diff of its *safe* fixes
    (``--diff``, printed in the report), then applies them (``--fix-only
    --no-unsafe-fixes``), then checks again; the findings are what remains.
    Unsafe fixes are never applied. This is the only case where the agent
    changes the project.

Context keys read
    ``file_paths`` (lint only these files or folders) and ``code_config`` (a
    mapping; its option names below override ``backend_options``).

Options
    ``fix`` (bool, default false), ``todo_comments`` (bool, default true:
    report TODO/FIXME comments), and the common ones.

Limits
    ``max_files`` Python files at most, each at most ``max_file_bytes``; the
    diff shown is cut at 400 lines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report, show_argv
from claude_pm.agents.toolchain.request import EXIT_OK, ToolchainError, ToolchainRequest
from claude_pm.agents.toolchain.running import require_module, run_tool, tail, tool_environment
from claude_pm.agents.toolchain.walking import project_files, relative_paths

TITLE = "Engineering report"
CONTEXT_KEYS = ("file_paths", "code_config")
OPTIONS = (
    Option("fix", "bool", False, "apply Ruff's safe fixes (never unsafe ones) and show the diff"),
    Option("todo_comments", "bool", True, "report open TODO/FIXME/XXX/HACK comments"),
)

RULES = ("E9", "F", "B", "PLE", "PERF", "SIM", "C4", "FIX")
#: (rule code prefix, marker), first match wins; a prefix matches the codes of its own
#: family only (``F`` is F401 or F821, not FIX002); a syntax error has no code.
RULE_MARKERS = (
    ("E9", "BUG"),
    ("F401", "REFACTOR"),
    ("F", "BUG"),
    ("B", "BUG"),
    ("PLE", "BUG"),
    ("PERF", "PERFORMANCE"),
    ("SIM", "REFACTOR"),
    ("C4", "REFACTOR"),
    ("FIX", "TODO"),
)
SYNTAX_CODES = (None, "", "invalid-syntax", "E999", "syntax-error")
MAX_DIFF_LINES = 400
_REQUIRES = re.compile(r">=\s*3\.(\d+)")
_COMMENT = re.compile(
    r"(?i)(todo|fixme|xxx|hack)\b\s*(?:[(\[][^)\]]{0,40}[)\]])?\s*[:\-]?\s*(?P<text>.*)$"
)


class RuffFailed(ToolchainError):
    """Ruff ran but produced no usable result."""

    exit_code = 70


def marker_for(code: str | None) -> str:
    """The marker a Ruff rule's findings get (see the module docstring's table)."""
    if code in SYNTAX_CODES:
        return "BUG"
    assert code is not None
    for prefix, marker in RULE_MARKERS:
        # A family prefix matches its own codes only: ``F`` is F401, never FIX002.
        rest = code[len(prefix) :]
        if code.startswith(prefix) and (not rest or rest[0].isdigit()):
            return marker
    return "REFACTOR"


def _target_version(root: Path) -> str:
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return "py312"
    for line in text.splitlines():
        if line.strip().startswith("requires-python"):
            found = _REQUIRES.search(line)
            if found:
                return f"py3{min(max(int(found[1]), 7), 13)}"
    return "py312"


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Lint with Ruff (fixing safely when asked) and report what remains."""
    root = request.project_root
    report.task(request.task)
    focus, refused = relative_paths(root, request.context.get("file_paths"))
    for path in refused:
        report.skipped(f"file_paths entry {path!r}", "not found inside the project")
    require_module(request.python, "ruff", "ruff", run_dir=request.run_dir)
    files = project_files(
        root,
        request.run_dir,
        want=lambda rel: rel.endswith((".py", ".pyi")),
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
        only=focus or None,
    )
    report.section("What ran")
    for note in files.skipped_notes(opts["max_files"], opts["max_file_bytes"]):
        report.skipped("Ruff", note)
    if not files.files:
        report.skipped("Ruff", "no Python files to lint")
        report.finish(["Ruff: no Python files"])
        return EXIT_OK
    rules = [r for r in RULES if opts["todo_comments"] or r != "FIX"]
    if not opts["todo_comments"]:
        report.skipped("TODO comments", "turned off by the todo_comments option")
    base = [
        request.python,
        "-m",
        "ruff",
        "check",
        "--isolated",
        "--no-unsafe-fixes",
        "--select",
        ",".join(rules),
        "--target-version",
        _target_version(root),
        "--cache-dir",
        str(request.run_dir / "cache" / "ruff"),
    ]
    rels = [f.rel for f in files.files]
    env = tool_environment(request.run_dir)
    timeout = opts["tool_timeout_s"]
    fixed = 0
    if opts["fix"]:
        fixed = _fix(request, report, base, rels, env, timeout)
    argv = _with_mode(base, "--output-format", "json-lines", "--exit-zero") + rels
    result = run_tool(argv, cwd=root, env=env, timeout_s=timeout)
    report.ran(show_argv(argv, root, request.run_dir), result.outcome())
    if result.timed_out or result.returncode != 0:
        reason = tail(result.stderr, lines=2) or result.outcome()
        raise RuffFailed(f"Ruff did not produce a result: {reason}", tool="ruff")
    diagnostics = sorted(_diagnostics(result.stdout, root), key=lambda d: d[:3])
    if result.stdout_truncated:
        report.skipped(
            "Ruff findings",
            f"Ruff's output was cut at its cap; the first {len(diagnostics)} are reported",
        )
    lines_cache: dict[str, list[str]] = {}
    syntax_seen: set[tuple[str, int]] = set()
    for diagnostic in diagnostics:
        _finding(report, root, diagnostic, lines_cache, syntax_seen)
    summary = [
        f"Ruff: {len(diagnostics)} finding(s) in {len(rels)} file(s), rules {','.join(rules)}"
    ]
    if opts["fix"]:
        summary.append(f"fixes: safe fixes applied to {fixed} file(s)")
    report.finish(summary)
    return EXIT_OK


def _with_mode(base: list[str], *mode: str) -> list[str]:
    """``ruff check MODE... rest``: the mode first, so the report shows it before the long tail."""
    at = base.index("check") + 1
    return [*base[:at], *mode, *base[at:]]


def _diagnostics(stdout: str, root: Path) -> list[tuple[str, int, int, str | None, str]]:
    """(path, row, column, code, message) per line of Ruff's ``json-lines`` output."""
    found = []
    for line in stdout.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # the last line of a cut output
        location = item.get("location") or {}
        code = item.get("code")
        found.append(
            (
                _relative(str(item.get("filename", "")), root),
                int(location.get("row") or 1),
                int(location.get("column") or 1),
                code if isinstance(code, str) else None,
                str(item.get("message", "")).strip(),
            )
        )
    return found


def _relative(filename: str, root: Path) -> str:
    path = Path(filename)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def _finding(
    report: Report,
    root: Path,
    diagnostic: tuple[str, int, int, str | None, str],
    cache: dict[str, list[str]],
    syntax_seen: set[tuple[str, int]],
) -> None:
    rel, row, column, code, message = diagnostic
    marker = marker_for(code)
    if code in SYNTAX_CODES:
        # One per line: the parser's follow-up errors on the same line add nothing.
        if (rel, row) not in syntax_seen:
            syntax_seen.add((rel, row))
            report.finding("BUG", rel, row, f"syntax error: {message}")
        return
    if marker == "TODO":
        if rel not in cache:
            cache.clear()  # findings come sorted by file: keep one file's lines at a time
            try:
                cache[rel] = (root / rel).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                cache[rel] = []
        source = cache[rel][row - 1] if 0 < row <= len(cache[rel]) else ""
        found = _COMMENT.match(source[column - 1 :]) if source else None
        word = found[1].upper() if found else "TODO"
        text = found["text"].strip() if found and found["text"].strip() else message
        report.finding("TODO", rel, row, f"open {word} comment: {text}", details=[f"Ruff {code}"])
        return
    report.finding(marker, rel, row, f"{code} {message}")


def _fix(
    request: ToolchainRequest,
    report: Report,
    base: list[str],
    rels: list[str],
    env: dict[str, str],
    timeout: float,
) -> int:
    """Show, then apply, Ruff's safe fixes; the number of files changed."""
    root = request.project_root
    diff_argv = _with_mode(base, "--diff") + rels
    diff = run_tool(diff_argv, cwd=root, env=env, timeout_s=timeout)
    report.ran(show_argv(diff_argv, root, request.run_dir), diff.outcome())
    lines = diff.stdout.splitlines()
    changed = sum(1 for line in lines if line.startswith("+++ "))
    if not changed:
        report.line("- no safe fixes to apply")
        return 0
    report.line(f"- safe fixes for {changed} file(s), diff:")
    report.lines(lines[:MAX_DIFF_LINES], indent="    ")
    if len(lines) > MAX_DIFF_LINES:
        report.line(f"    ... ({len(lines) - MAX_DIFF_LINES} more diff lines)")
    apply_argv = _with_mode(base, "--fix-only", "--exit-zero") + rels
    applied = run_tool(apply_argv, cwd=root, env=env, timeout_s=timeout)
    report.ran(show_argv(apply_argv, root, request.run_dir), applied.outcome())
    if applied.timed_out or applied.returncode != 0:
        raise RuffFailed(f"Ruff could not apply its fixes ({applied.outcome()})", tool="ruff")
    return changed
