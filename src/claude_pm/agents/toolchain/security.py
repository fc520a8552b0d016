"""security: Bandit over the Python sources, detect-secrets over every text file.

What runs
    ``python -m bandit`` on the project's Python files (in batches, with a
    line-per-issue template, ``--severity-level`` from the ``severity``
    option, medium by default, and the project's ``[tool.bandit]`` or
    ``.bandit`` configuration when it has one) and ``python -m detect_secrets
    scan --all-files --no-verify`` on its files, with the plugins that find real
    credentials: cloud keys (AWS, Azure, IBM), service tokens (GitHub, GitLab,
    Slack, Stripe, npm, PyPI, OpenAI, Twilio, SendGrid, Discord, Telegram...),
    JWTs, private keys and basic-auth URLs. The entropy and keyword plugins are
    off: they flag hashes and variable names more often than secrets. Both
    tools run from the run directory, never write a file, and their output is
    kept in memory only.

Findings
    ``SECURITY(priority)`` items: Bandit's severity is the priority (a
    hard-coded password reads "value redacted"); a detected secret is
    ``SECURITY(high)`` naming its kind, file and line.

Secrets are never repeated
    detect-secrets reports a secret's kind, file and line (and a hash, which
    is not used). Bandit quotes the string it suspects in its message, so
    every quoted text in a Bandit message is replaced by ``'<redacted>'``
    before it is printed, and the tools' stderr is never echoed. Nothing is
    written to the run directory.

Context keys read
    ``file_paths`` (restrict the scan to these files or folders) and
    ``security_config`` (a mapping; its option names below override
    ``backend_options``).

Options
    ``severity`` (low, medium or high: the least Bandit severity reported,
    default medium), ``confidence`` (the least Bandit confidence, default
    low), ``bandit`` and ``secrets`` (bool, default true: run that tool),
    and the common ones (``max_files``, ``max_file_bytes`` bound both scans).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import EXIT_OK, ToolchainError, ToolchainRequest
from claude_pm.agents.toolchain.running import require_module, run_tool, tool_environment
from claude_pm.agents.toolchain.walking import FileSet, project_files, relative_paths

TITLE = "Security report"
CONTEXT_KEYS = ("file_paths", "security_config")
LEVELS = ("low", "medium", "high")
OPTIONS = (
    Option(
        "severity",
        "choice",
        "medium",
        "least Bandit severity reported",
        choices=LEVELS,
    ),
    Option(
        "confidence",
        "choice",
        "low",
        "least Bandit confidence reported",
        choices=LEVELS,
    ),
    Option("bandit", "bool", True, "run Bandit over the Python files"),
    Option("secrets", "bool", True, "run detect-secrets over the text files"),
)

#: detect-secrets plugins turned off: they find high-entropy strings and
#: suspicious names, not credentials, and they are most of the noise.
DISABLED_SECRET_PLUGINS = (
    "Base64HighEntropyString",
    "HexHighEntropyString",
    "KeywordDetector",
    "IPPublicDetector",
)
_BATCH_ARGV_CHARS = 60_000
_TEMPLATE = "{relpath}\t{line}\t{test_id}\t{severity}\t{confidence}\t{msg}"
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_PASSWORD_TESTS = ("B105", "B106", "B107")


class ScanFailed(ToolchainError):
    """A scanner ran but did not produce a result."""

    exit_code = 70


def redact(message: str) -> str:
    """A Bandit message with every quoted text replaced (it may be the secret itself)."""
    return _QUOTED.sub("'<redacted>'", message)


def _batches(files: list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for rel in files:
        if batch and size + len(rel) > _BATCH_ARGV_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(rel)
        size += len(rel) + 1
    if batch:
        yield batch


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Run both scanners and report their findings."""
    root = request.project_root
    report.task(request.task)
    focus, refused = relative_paths(root, request.context.get("file_paths"))
    for path in refused:
        report.skipped(f"file_paths entry {path!r}", "not found inside the project")
    if opts["bandit"]:
        require_module(request.python, "bandit", "bandit", run_dir=request.run_dir)
    if opts["secrets"]:
        require_module(request.python, "detect_secrets", "detect-secrets", run_dir=request.run_dir)
    report.section("What ran")
    summary = []
    if opts["bandit"]:
        summary.append(_bandit(request, report, opts, focus or None))
    else:
        report.skipped("Bandit", "turned off by the bandit option")
    if opts["secrets"]:
        summary.append(_secrets(request, report, opts, focus or None))
    else:
        report.skipped("detect-secrets", "turned off by the secrets option")
    report.finish(summary)
    return EXIT_OK


def _files(
    request: ToolchainRequest, opts: Values, only: list[str] | None, python: bool
) -> FileSet:
    return project_files(
        request.project_root,
        request.run_dir,
        want=(lambda rel: rel.endswith(".py")) if python else (lambda rel: True),
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
        only=only,
    )


def _note_skips(report: Report, what: str, files: FileSet, opts: Values) -> None:
    for note in files.skipped_notes(opts["max_files"], opts["max_file_bytes"]):
        report.skipped(what, note)


def _bandit(request: ToolchainRequest, report: Report, opts: Values, only: list[str] | None) -> str:
    root = request.project_root
    files = _files(request, opts, only, python=True)
    _note_skips(report, "Bandit", files, opts)
    if not files.files:
        report.skipped("Bandit", "no Python files to scan")
        return "Bandit: no Python files"
    env = tool_environment(request.run_dir)
    config = _bandit_config(root)
    if config:
        report.line(f"- Bandit configuration: {' '.join(config)}")
    issues: list[tuple[str, int, str, str, str, str]] = []
    runs = 0
    for batch in _batches([f.rel for f in files.files]):
        argv = [
            request.python,
            "-m",
            "bandit",
            "-q",
            "-f",
            "custom",
            "--msg-template",
            _TEMPLATE,
            "--severity-level",
            opts["severity"],
            "--confidence-level",
            opts["confidence"],
            *config,
            *batch,
        ]
        result = run_tool(argv, cwd=root, env=env, timeout_s=opts["tool_timeout_s"])
        runs += 1
        if result.timed_out or result.returncode not in (0, 1):
            # stderr is not echoed: a tool's diagnostics may quote source text.
            raise ScanFailed(f"Bandit did not finish ({result.outcome()})", tool="bandit")
        issues.extend(_parse_bandit(result.stdout))
    report.ran(
        f"python -m bandit on {len(files.files)} Python file(s) in {runs} run(s), "
        f"severity {opts['severity']} and up",
        "done",
    )
    for rel, line, test_id, severity, confidence, message in sorted(issues):
        if test_id in _PASSWORD_TESTS:
            text = f"{test_id} possible hard-coded password (value redacted)"
        else:
            text = f"{test_id} {redact(message)}"
        report.finding(
            "SECURITY",
            rel,
            line,
            text,
            priority=severity.lower() if severity.lower() in LEVELS else None,
            details=[f"Bandit severity {severity.lower()}, confidence {confidence.lower()}"],
        )
    return f"Bandit: {len(issues)} issue(s) in {len(files.files)} file(s)"


def _bandit_config(root: Path) -> list[str]:
    """The project's own Bandit configuration, when it has one (its skips apply)."""
    pyproject = root / "pyproject.toml"
    try:
        if pyproject.is_file() and "[tool.bandit" in pyproject.read_text(encoding="utf-8"):
            return ["-c", "pyproject.toml"]
    except OSError:
        pass
    return ["--ini", ".bandit"] if (root / ".bandit").is_file() else []


def _parse_bandit(stdout: str) -> Iterator[tuple[str, int, str, str, str, str]]:
    for raw in stdout.splitlines():
        parts = raw.split("\t", 5)
        if len(parts) != 6 or not parts[1].isdigit():
            continue
        rel, line, test_id, severity, confidence, message = parts
        yield (
            rel.replace("\\", "/").removeprefix("./"),
            int(line),
            test_id,
            severity,
            confidence,
            message,
        )


def _secrets(
    request: ToolchainRequest, report: Report, opts: Values, only: list[str] | None
) -> str:
    root = request.project_root
    files = _files(request, opts, only, python=False)
    _note_skips(report, "detect-secrets", files, opts)
    if not files.files:
        report.skipped("detect-secrets", "no files to scan")
        return "detect-secrets: no files"
    env = tool_environment(request.run_dir)
    disabled = [arg for name in DISABLED_SECRET_PLUGINS for arg in ("--disable-plugin", name)]
    found: list[tuple[str, int, str]] = []
    runs = 0
    for batch in _batches([f.rel for f in files.files]):
        argv = [
            *(request.python, "-m", "detect_secrets", "scan", "--all-files", "--no-verify"),
            *disabled,
            *batch,
        ]
        result = run_tool(argv, cwd=root, env=env, timeout_s=opts["tool_timeout_s"])
        runs += 1
        try:
            if result.timed_out or result.returncode != 0:
                raise ValueError(result.outcome())
            baseline = json.loads(result.stdout)
        except ValueError as e:
            raise ScanFailed(f"detect-secrets did not finish ({e})", tool="detect-secrets") from e
        for filename, entries in (baseline.get("results") or {}).items():
            for entry in entries:
                rel = str(entry.get("filename") or filename).replace("\\", "/").removeprefix("./")
                found.append((rel, int(entry.get("line_number") or 1), str(entry.get("type"))))
    report.ran(
        f"python -m detect_secrets scan --all-files --no-verify on {len(files.files)} file(s) "
        f"in {runs} run(s)",
        "done",
    )
    for rel, line, kind in sorted(set(found)):
        report.finding(
            "SECURITY",
            rel,
            line,
            f"hard-coded {kind} (detect-secrets); the value is not shown",
            priority="high",
            details=["remove it from the file and its history, and revoke it"],
        )
    return f"detect-secrets: {len(set(found))} secret(s) in {len(files.files)} file(s)"
