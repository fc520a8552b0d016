"""data_engineer: parse the project's SQL files and migrations with sqlglot.

What runs
    :mod:`._sql_worker` under the request's ``python`` (``python -I -B``:
    isolated, no bytecode written), which tokenizes each ``.sql`` file once
    with sqlglot, cuts it into statements at the semicolons, and parses each
    statement on its own, so one broken statement does not hide the others.

The dialect
    The ``dialect`` option (any sqlglot dialect name: postgres, mysql,
    sqlite, snowflake, bigquery, duckdb, tsql...) when set; else the first
    hint found in the ``data_config`` / ``storage_config`` context values,
    then in the project's manifests (a driver such as ``psycopg`` or
    ``pymysql`` in ``pyproject.toml``/``requirements*.txt``, an
    ``alembic.ini`` URL, a database image in a compose file); else sqlglot's
    generic dialect. The report says which and why.

Findings
    ``BUG`` for each statement sqlglot cannot parse, at its file and first
    line, with the parser's reason on the detail line. A statement sqlglot
    keeps only as an opaque command (syntax it does not model, such as
    ``CREATE EXTENSION``) is listed, not reported, unless ``strict`` is set.
    Templated SQL (Jinja ``{{ }}`` / ``{% %}``, as in dbt) is skipped with a
    note; Python migrations (Alembic, Django) build their SQL at run time and
    are not parsed.

Context keys read
    ``data_config`` (a mapping: its option names override
    ``backend_options``; its values, with ``storage_config``'s, hint the
    dialect).

Options
    ``dialect`` (string), ``strict`` (bool, default false), and the common
    ones.

Limits
    ``max_files`` SQL files at most, each at most ``max_file_bytes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_pm.agents.toolchain.options import Option, Values
from claude_pm.agents.toolchain.reporting import Report
from claude_pm.agents.toolchain.request import (
    EXIT_OK,
    BadOptions,
    ToolchainError,
    ToolchainRequest,
)
from claude_pm.agents.toolchain.running import require_module, run_tool, tail, tool_environment
from claude_pm.agents.toolchain.walking import ProjectFile, project_files, read_text

TITLE = "Data engineering report"
CONTEXT_KEYS = ("data_config", "storage_config")
OPTIONS = (
    Option("dialect", "str", None, "sqlglot dialect to parse with; auto-detected when unset"),
    Option(
        "strict",
        "bool",
        False,
        "report statements sqlglot keeps only as opaque commands as BUGs too",
    ),
)

#: (hint in lower-case text, sqlglot dialect), most specific first.
DIALECT_HINTS = (
    ("postgres", "postgres"),
    ("psycopg", "postgres"),
    ("asyncpg", "postgres"),
    ("redshift", "redshift"),
    ("snowflake", "snowflake"),
    ("bigquery", "bigquery"),
    ("duckdb", "duckdb"),
    ("clickhouse", "clickhouse"),
    ("databricks", "databricks"),
    ("pyspark", "spark"),
    ("trino", "trino"),
    ("mysql", "mysql"),
    ("pymysql", "mysql"),
    ("mariadb", "mysql"),
    ("pymssql", "tsql"),
    ("mssql", "tsql"),
    ("oracledb", "oracle"),
    ("cx_oracle", "oracle"),
    ("sqlite", "sqlite"),
)
MANIFESTS = ("pyproject.toml", "requirements.txt", "alembic.ini", "docker-compose.yml",
             "docker-compose.yaml", "compose.yml", "compose.yaml", "setup.cfg")  # fmt: skip
WORKER = Path(__file__).with_name("_sql_worker.py")
_DIALECT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TEMPLATE = re.compile(r"\{\{|\{%")


class SqlCheckFailed(ToolchainError):
    """The sqlglot worker did not produce a result."""

    exit_code = 70


def option_problems(options: Mapping[str, Any]) -> list[str]:
    """A dialect name must look like one (sqlglot itself checks it exists)."""
    dialect = options.get("dialect")
    if isinstance(dialect, str) and not _DIALECT_NAME.match(dialect):
        return [
            f"option 'dialect' must be a sqlglot dialect name such as postgres (got {dialect!r})"
        ]
    return []


def detect_dialect(request: ToolchainRequest, opts: Values) -> tuple[str | None, str]:
    """The dialect to parse with, and where it came from."""
    if opts.given("dialect"):
        return str(opts["dialect"]), "the dialect option"
    for key in ("data_config", "storage_config"):
        value = request.context.get(key)
        if value:
            text = json.dumps(value, default=str).lower()
            for hint, dialect in DIALECT_HINTS:
                if hint in text:
                    return dialect, f"{hint!r} in the {key} context"
    for name in MANIFESTS:
        path = request.project_root / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:1_000_000].lower()
        except OSError:
            continue
        for hint, dialect in DIALECT_HINTS:
            if hint in text:
                return dialect, f"{hint!r} in {name}"
    return None, "no hint found: sqlglot's generic dialect"


def run(request: ToolchainRequest, report: Report, opts: Values) -> int:
    """Parse every SQL file; report the statements that do not parse."""
    root = request.project_root
    report.task(request.task)
    require_module(request.python, "sqlglot", "sqlglot", run_dir=request.run_dir)
    files = project_files(
        root,
        request.run_dir,
        want=lambda rel: rel.lower().endswith(".sql"),
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
    )
    report.section("What ran")
    for note in files.skipped_notes(opts["max_files"], opts["max_file_bytes"]):
        report.skipped("SQL check", note)
    _note_python_migrations(request, report, opts)
    dialect, why = detect_dialect(request, opts)
    report.line(f"- dialect: {dialect or 'generic'} ({why})")
    plain: list[ProjectFile] = []
    for file in files.files:
        text = read_text(file)
        if text is None:
            report.skipped(file.rel, "not text")
        elif _TEMPLATE.search(text):
            report.skipped(file.rel, "templated SQL (Jinja); it is rendered at run time")
        else:
            plain.append(file)
    if not plain:
        report.skipped("SQL check", "no SQL files to parse")
        report.finish(["SQL: no files parsed"])
        return EXIT_OK
    results = _run_worker(request, report, opts, dialect, plain)
    statements = errors = 0
    commands: list[tuple[str, int, str]] = []
    for result in results:
        if result.get("fatal"):
            report.skipped(str(result.get("file")), str(result["fatal"]))
            continue
        rel = str(result["file"])
        statements += int(result.get("statements", 0))
        for line, keyword, description in result.get("errors", []):
            errors += 1
            what = f"{keyword} statement" if keyword else "statement"
            report.finding(
                "BUG",
                rel,
                int(line),
                f"SQL {what} does not parse ({dialect or 'generic'} dialect)",
                details=[f"sqlglot: {description}"],
            )
        for line, keyword in result.get("commands", []):
            commands.append((rel, int(line), str(keyword)))
    if commands and not opts["strict"]:
        report.section("Statements kept as opaque commands")
        for rel, line, keyword in commands[:20]:
            report.line(f"- {rel}:{line}: {keyword} (syntax sqlglot does not model)")
        if len(commands) > 20:
            report.line(f"- ... and {len(commands) - 20} more")
    for rel, line, keyword in commands if opts["strict"] else []:
        report.finding("BUG", rel, line, f"SQL {keyword} statement is not understood (strict mode)")
    report.finish(
        [
            f"SQL: {len(plain)} file(s), {statements} statement(s), {errors} that do not parse, "
            f"{len(commands)} opaque command(s)"
        ]
    )
    return EXIT_OK


def _note_python_migrations(request: ToolchainRequest, report: Report, opts: Values) -> None:
    python_migrations = project_files(
        request.project_root,
        request.run_dir,
        want=lambda rel: (
            rel.endswith(".py")
            and ("/migrations/" in f"/{rel}" or "/versions/" in f"/{rel}")
            and not rel.endswith("__init__.py")
        ),
        max_files=opts["max_files"],
        max_file_bytes=opts["max_file_bytes"],
    )
    count = len(python_migrations.files) + python_migrations.over_limit
    if count:
        report.skipped(
            f"{count} Python migration file(s)",
            "their SQL is built at run time (Alembic, Django); only .sql files are parsed",
        )


def _run_worker(
    request: ToolchainRequest,
    report: Report,
    opts: Values,
    dialect: str | None,
    files: list[ProjectFile],
) -> list[dict[str, Any]]:
    job = request.run_dir / "sql-job.json"
    job.write_text(
        json.dumps({"dialect": dialect, "files": [[f.rel, str(f.path)] for f in files]}),
        encoding="utf-8",
    )
    argv = [request.python, "-I", "-B", str(WORKER), str(job)]
    result = run_tool(
        argv,
        cwd=request.run_dir,
        env=tool_environment(request.run_dir),
        timeout_s=opts["tool_timeout_s"],
    )
    report.ran(f"sqlglot on {len(files)} SQL file(s)", result.outcome())
    answers = []
    for line in result.stdout.splitlines():
        try:
            answers.append(json.loads(line))
        except ValueError:
            continue
    fatal = next((a["fatal"] for a in answers if "file" not in a and a.get("fatal")), None)
    if fatal:
        raise BadOptions("data_engineer", [str(fatal)])
    if result.timed_out or result.returncode != 0:
        raise SqlCheckFailed(
            f"the sqlglot worker failed ({result.outcome()}): {tail(result.stderr, lines=3)}",
            tool="sqlglot",
        )
    return answers
