"""data_engineer: sqlglot really parses each statement; what does not parse is a BUG."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import run, snapshot, write_tree

from claude_pm.agents.toolchain import EXIT_BAD_OPTIONS, EXIT_TOOL_MISSING, check_options

MIGRATIONS = {
    "db/001_init.sql": """
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
    """,
    "db/002_broken.sql": """
        -- two broken statements; the valid one between them is still checked
        SELECT * FROM;

        UPDATE users SET name = 'x' WHERE id = 1;

        DELETE FROM users WHERE;
    """,
    "db/003_unterminated.sql": """
        INSERT INTO users VALUES (1, 'ok');
        INSERT INTO users VALUES (2, 'no end
        ;
    """,
    "models/daily.sql": "SELECT * FROM {{ ref('users') }}\n",
    "migrations/versions/0001_alembic.py": "def upgrade():\n    pass\n",
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("wh"), MIGRATIONS)


def test_statements_that_do_not_parse_are_bugs_at_their_line(warehouse: Path, tmp_path: Path):
    before = snapshot(warehouse)
    outcome = run("data_engineer", warehouse, tmp_path / "run")
    assert outcome.code == 0, outcome.stderr
    assert outcome.located() == {
        ("BUG", "db/002_broken.sql", 2),
        ("BUG", "db/002_broken.sql", 6),
        ("BUG", "db/003_unterminated.sql", 2),
    }
    messages = {(f.path, f.line): f.message for f in outcome.findings}
    assert messages[("db/002_broken.sql", 2)] == (
        "SQL SELECT statement does not parse (generic dialect)"
    )
    assert "sqlglot: Expected table name but got the end of the statement" in outcome.report
    assert "unterminated string" in outcome.report
    assert "- skipped: models/daily.sql: templated SQL (Jinja)" in outcome.report
    assert "1 Python migration file(s)" in outcome.report
    assert "- db/001_init.sql:2: CREATE (syntax sqlglot does not model)" in outcome.report
    assert snapshot(warehouse) == before


def test_strict_mode_reports_opaque_commands(warehouse: Path, tmp_path: Path):
    outcome = run("data_engineer", warehouse, tmp_path / "run", options={"strict": True})
    assert ("BUG", "db/001_init.sql", 2) in outcome.located()


def test_the_dialect_comes_from_the_option_the_context_or_the_project(tmp_path: Path):
    project = write_tree(
        tmp_path / "p",
        {
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["psycopg>=3"]\n',
            "q.sql": "SELECT 1;\n",
        },
    )
    detected = run("data_engineer", project, tmp_path / "a")
    assert "- dialect: postgres ('psycopg' in pyproject.toml)" in detected.report
    configured = run(
        "data_engineer",
        project,
        tmp_path / "b",
        context={"storage_config": {"warehouse": "Snowflake"}},
    )
    assert "- dialect: snowflake ('snowflake' in the storage_config context)" in configured.report
    chosen = run("data_engineer", project, tmp_path / "c", options={"dialect": "mysql"})
    assert "- dialect: mysql (the dialect option)" in chosen.report


def test_an_unknown_dialect_is_a_bad_option(tmp_path: Path):
    project = write_tree(tmp_path / "p", {"q.sql": "SELECT 1;\n"})
    outcome = run("data_engineer", project, tmp_path / "run", options={"dialect": "nosuchsql"})
    assert outcome.code == EXIT_BAD_OPTIONS
    assert "unknown SQL dialect 'nosuchsql'" in outcome.stderr
    assert check_options("data_engineer", {"dialect": "Postgres; DROP"})


def test_missing_sqlglot_is_an_error(warehouse: Path, tmp_path: Path, bare_python: str):
    outcome = run("data_engineer", warehouse, tmp_path / "run", python=bare_python)
    assert outcome.code == EXIT_TOOL_MISSING
    assert "sqlglot is not installed" in outcome.stderr
