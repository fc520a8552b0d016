"""qa: run the project's tests with pytest (and coverage), the way the project runs them.

What runs
    The interpreter is the project's own when it has one (``.venv/bin/python``
    or ``venv/bin/python`` with pytest installed), else the request's
    ``python``. pytest runs from the project root, so the project's own pytest
    configuration applies, with ``-p no:cacheprovider``, a JUnit XML file in
    the run directory (``-o junit_family=xunit1``, which records each test's
    file and line) and ``--continue-on-collection-errors``. When coverage is
    installed in that interpreter, pytest runs under ``coverage run`` with its
    data file in the run directory (``COVERAGE_FILE``) and ``--source`` set to
    ``src`` (or the project root) unless the project's coverage configuration
    names its sources; ``coverage json`` then writes the per-module figures to
    the run directory. With a ``test_command`` option that command runs
    instead (claude-pm's pytest arguments are appended), without coverage.

Findings
    ``BUG`` for each failing or erroring test, naming its id, file and line
    (collection errors included); ``TODO`` for each non-test module whose
    coverage is under ``coverage_threshold``. A project without test files is
    reported, not an error; so is a test suite pytest cannot start (a ``BUG``
    at its configuration file).

Context keys read
    ``file_paths``: test files or folders among them are what pytest runs;
    the other paths restrict the coverage ``TODO`` items to those files
    (when only tests are named, coverage is measured but not judged).
    ``test_config`` (a mapping): its option names below override the
    definition's ``backend_options``.

Options
    ``test_command`` (list of strings: the argv that runs pytest, e.g.
    ``["uv", "run", "pytest"]``; ``{python}`` is replaced by the interpreter),
    ``pytest_args`` (extra arguments, e.g. ``["-m", "not slow"]``),
    ``coverage`` (bool, default true), ``coverage_threshold`` (percent,
    default 80), and the common ones (``tool_timeout_s`` bounds the test run).

Limits
    Test files are only counted (``max_files`` bounds the listing); the run
    itself is bounded by ``tool_timeout_s`` and the agent's own timeout and
    memory limit; pytest's output is kept up to 16 MiB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report, show_argv
from claude_pm.agents.toolchain.request import (
    EXIT_OK,
    EXIT_TIMEOUT,
    ToolchainError,
    ToolchainRequest,
)
from claude_pm.agents.toolchain.running import (
    ToolRun,
    has_module,
    require_module,
    run_tool,
    tail,
    tool_environment,
)
from claude_pm.agents.toolchain.walking import (
    is_test_file,
    project_files,
    relative_paths,
)

TITLE = "QA report"
CONTEXT_KEYS = ("file_paths", "test_config")
OPTIONS = (
    Option(
        "test_command",
        "str_list",
        None,
        "argv that runs pytest (claude-pm appends its own pytest arguments); "
        "{python} is the interpreter; default: `python -m pytest`",
    ),
    Option("pytest_args", "str_list", None, "extra pytest arguments, e.g. ['-m', 'not slow']"),
    Option("coverage", "bool", True, "measure coverage when coverage is installed"),
    Option(
        "coverage_threshold",
        "number",
        80,
        "percent of a module's statements tests must run; under it is a TODO",
        minimum=0,
        maximum=100,
    ),
)

PYTEST_CONFIGS = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
_CRASH_LINE = re.compile(r"^(?P<path>\S+?):(?P<line>\d+): (?P<type>[A-Za-z_][\w.]*)$")
_E_LINE = re.compile(r"^E\s+(?P<type>[A-Za-z_][\w.]*)(?::|$)")


class TestsTimedOut(ToolchainError):
    """The test run did not finish within ``tool_timeout_s``."""

    exit_code = EXIT_TIMEOUT


def _interpreters(request: ToolchainRequest) -> list[tuple[str, str]]:
    root = request.project_root
    found = []
    for folder in (".venv", "venv"):
        python = root / folder / "bin" / "python"
        if python.exists():
            found.append((str(python), f"the project's {folder}"))
    found.append((request.python, "the configured interpreter"))
    return found


def _choose_python(request: ToolchainRequest, report: Report) -> tuple[str, str]:
    for python, label in _interpreters(request):
        if has_module(python, "pytest", run_dir=request.run_dir):
            return python, label
        if python != request.python:
            report.skipped(f"{label} ({python})", "pytest is not installed there")
    require_module(request.python, "pytest", "pytest", run_dir=request.run_dir)
    raise AssertionError("unreachable")  # pragma: no cover


def _coverage_configured(root: Path) -> bool:
    """Whether the project's coverage configuration names its sources (then we do not)."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        run = data.get("tool", {}).get("coverage", {}).get("run", {})
        if isinstance(run, dict) and ("source" in run or "include" in run):
            return True
    import configparser

    for name, section in ((".coveragerc", "run"), ("setup.cfg", "coverage:run")):
        path = root / name
        if not path.is_file():
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError):
            continue
        if parser.has_section(section) and (
            parser.has_option(section, "source") or parser.has_option(section, "include")
        ):
            return True
    return False


def _split_focus(rels: list[str], root: Path) -> tuple[list[str], list[str]]:
    tests, sources = [], []
    for rel in rels:
        if is_test_file(rel) or ((root / rel).is_dir() and rel.split("/")[-1].startswith("test")):
            tests.append(rel)
        else:
            sources.append(rel)
    return tests, sources


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Run the tests and report failures and under-covered modules."""
    root = request.project_root
    report.task(request.task)
    focus, refused = relative_paths(root, request.context.get("file_paths"))
    for path in refused:
        report.skipped(f"file_paths entry {path!r}", "not found inside the project")
    test_targets, source_focus = _split_focus(focus, root)
    report.section("What ran")
    command = opts["test_command"]
    if command is None:
        tests = project_files(
            root,
            request.run_dir,
            want=lambda rel: rel.endswith(".py") and is_test_file(rel),
            max_files=opts["max_files"],
            max_file_bytes=opts["max_file_bytes"],
            only=test_targets or None,
        )
        count = len(tests.files) + tests.over_limit + len(tests.too_large)
        if count == 0:
            report.skipped("tests", "the project has no test files (test_*.py, *_test.py)")
            report.finish(["tests: none found; nothing ran"])
            return EXIT_OK
        report.line(f"- found {count} test file(s) ({tests.source})")
    python, label = _choose_python(request, report) if command is None else (request.python, "")
    junit = request.run_dir / "junit.xml"
    junit.unlink(missing_ok=True)
    pytest_tail = [
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
        "--continue-on-collection-errors",
        "-q",
        *(opts["pytest_args"] or []),
        *test_targets,
    ]
    env = tool_environment(request.run_dir)
    use_coverage = False
    if command is not None:
        argv = [part.replace("{python}", request.python) for part in command] + pytest_tail
        if opts["coverage"]:
            report.skipped("coverage", "a test_command is configured; coverage wraps only pytest")
    else:
        report.line(f"- interpreter: {python} ({label})")
        use_coverage = bool(opts["coverage"]) and has_module(
            python, "coverage", run_dir=request.run_dir
        )
        if not opts["coverage"]:
            report.skipped("coverage", "turned off by the coverage option")
        elif not use_coverage:
            report.skipped("coverage", f"coverage is not installed for {python}")
        if use_coverage:
            source = (
                []
                if _coverage_configured(root)
                else ["--source=src" if (root / "src").is_dir() else "--source=."]
            )
            argv = [python, "-m", "coverage", "run", *source, "-m", "pytest", *pytest_tail]
        else:
            argv = [python, "-m", "pytest", *pytest_tail]
    result = run_tool(argv, cwd=root, env=env, timeout_s=opts["tool_timeout_s"])
    report.ran(show_argv(argv, root, request.run_dir), result.outcome())
    if result.timed_out:
        raise TestsTimedOut(
            f"the tests did not finish within {opts['tool_timeout_s']:g} s "
            "(option tool_timeout_s); nothing was reported"
        )
    last = tail(result.stdout, lines=1)
    if last:
        report.line(f"- pytest said: {last}")
    counts = _report_tests(report, result, junit, root)
    summary = [counts]
    if use_coverage:
        judged = not test_targets or bool(source_focus)
        if not judged:
            report.skipped(
                "coverage threshold", "only some tests ran (file_paths): coverage is not judged"
            )
        summary.append(_report_coverage(request, report, python, env, opts, source_focus, judged))
    report.finish(summary)
    return EXIT_OK


def _pytest_config(root: Path) -> str:
    for name in PYTEST_CONFIGS:
        if (root / name).is_file():
            return name
    return "pyproject.toml"


def _report_tests(report: Report, result: ToolRun, junit: Path, root: Path) -> str:
    """Findings for failing tests; the summary sentence."""
    import xml.etree.ElementTree as ET

    if result.returncode == 5:
        report.skipped("tests", "pytest collected no tests (exit 5)")
        return "tests: pytest collected none"
    try:
        tree = ET.parse(junit)
    except (OSError, ET.ParseError):
        report.finding(
            "BUG",
            _pytest_config(root),
            1,
            f"pytest cannot run the test suite (exit {result.returncode})",
            details=[tail(result.stderr or result.stdout, lines=3)],
        )
        return f"tests: pytest could not run (exit {result.returncode})"
    passed = failed = errors = skipped = 0
    for case in tree.iter("testcase"):
        outcome = None
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = child
                break
            if child.tag == "skipped":
                skipped += 1
        if outcome is None:
            if not any(child.tag == "skipped" for child in case):
                passed += 1
            continue
        if outcome.tag == "failure":
            failed += 1
        else:
            errors += 1
        _test_finding(report, case.attrib, outcome)
    return f"tests: {passed} passed, {failed} failed, {errors} errors, {skipped} skipped"


def _node_id(attrib: dict[str, str]) -> tuple[str, str]:
    file = attrib.get("file", "").replace("\\", "/")
    classname, name = attrib.get("classname", ""), attrib.get("name", "")
    if not file:
        return name, name.replace(".", "/") + ".py"
    module = file[:-3].replace("/", ".") if file.endswith(".py") else file
    inner = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
    parts = [file, *[p for p in inner.split(".") if p]]
    if classname:
        parts.append(name)
    return "::".join(parts), file


def _test_finding(report: Report, attrib: dict[str, str], outcome: Any) -> None:
    node_id, file = _node_id(attrib)
    line = int(attrib["line"]) + 1 if attrib.get("line", "").isdigit() else 1
    text = (outcome.text or "").strip().splitlines()
    message = (outcome.attrib.get("message") or "").strip().splitlines()
    error_type, crash, error_line = "", "", ""
    for candidate in reversed(text[-3:]):
        found = _CRASH_LINE.match(candidate)
        if found:
            error_type, crash = found["type"], f"{found['path']}:{found['line']}"
            break
        found = _E_LINE.match(candidate)
        if found:
            error_type, error_line = found["type"], candidate[1:].strip()
            break
    kind = "failed" if outcome.tag == "failure" else "errored"
    if not attrib.get("classname"):
        kind = "could not be collected"
    label = f" ({error_type})" if error_type else ""
    details = [message[0]] if message and message[0] != "collection failure" else []
    if not details and error_line:
        details = [error_line]
    if crash:
        details.append(f"raised at {crash}")
    report.finding("BUG", file, line, f"test {node_id} {kind}{label}", details=details)


def _report_coverage(
    request: ToolchainRequest,
    report: Report,
    python: str,
    env: dict[str, str],
    opts: Values,
    focus: list[str],
    judged: bool,
) -> str:
    root, run_dir = request.project_root, request.run_dir
    if not (run_dir / ".coverage").exists() and any(run_dir.glob(".coverage.*")):
        combine = [python, "-m", "coverage", "combine"]
        done = run_tool(combine, cwd=root, env=env, timeout_s=opts["tool_timeout_s"])
        report.ran(show_argv(combine, root, run_dir), done.outcome())
    out = run_dir / "coverage.json"
    argv = [python, "-m", "coverage", "json", "-o", str(out), "--ignore-errors"]
    done = run_tool(argv, cwd=root, env=env, timeout_s=opts["tool_timeout_s"])
    report.ran(show_argv(argv, root, run_dir), done.outcome())
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report.skipped("coverage report", tail(done.stderr or done.stdout, lines=2) or "no data")
        return "coverage: no data"
    threshold = float(opts["coverage_threshold"])
    files = data.get("files", {})
    under = 0
    for name in sorted(files):
        rel = _relative(name, root)
        if rel is None or is_test_file(rel) or not judged:
            continue
        if focus and not any(rel == f or rel.startswith(f.rstrip("/") + "/") for f in focus):
            continue
        summary = files[name].get("summary", {})
        percent = float(summary.get("percent_covered", 100.0))
        if percent >= threshold or not summary.get("num_statements"):
            continue
        under += 1
        missing = files[name].get("missing_lines", [])
        report.finding(
            "TODO",
            rel,
            1,
            f"module coverage is under the {threshold:g}% threshold; add tests",
            details=[
                f"{percent:.0f}% of {summary.get('num_statements')} statements covered; "
                f"missing lines: {_ranges(missing)}"
            ],
        )
    total = data.get("totals", {}).get("percent_covered")
    total_text = f"{float(total):.0f}%" if total is not None else "unknown"
    return f"coverage: {total_text} in total; {under} module(s) under {threshold:g}%"


def _relative(name: str, root: Path) -> str | None:
    path = Path(name)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _ranges(lines: list[int], limit: int = 12) -> str:
    spans: list[str] = []
    start = prev = None
    for number in sorted(lines):
        if start is None:
            start = prev = number
        elif prev is not None and number == prev + 1:
            prev = number
        else:
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = number
    if start is not None:
        spans.append(f"{start}" if start == prev else f"{start}-{prev}")
    shown = ", ".join(spans[:limit])
    return shown + (" ..." if len(spans) > limit else "") if spans else "none"
