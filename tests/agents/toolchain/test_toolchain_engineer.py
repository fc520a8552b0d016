"""engineer: Ruff with the fixed rule set really runs; safe fixes only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import run, snapshot, write_tree

from claude_pm.agents.toolchain import EXIT_TOOL_MISSING
from claude_pm.agents.toolchain.engineer import marker_for

CODE = {
    "pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.11"\n',
    "src/x/calc.py": """
        import os
        import sys


        def is_positive(n):
            if n > 0:
                return True
            else:
                return False


        def doubled(items):
            out = []
            for item in items:
                out.append(item * 2)
            return out


        def broken():
            return undefined_name


        def argv():
            # FIXME(alice): read the options from a file
            return sys.argv


        match sys.platform:
            case "linux":
                PLATFORM = "linux"
            case _:
                PLATFORM = "other"
    """,
    "src/x/syntax.py": "def f(:\n    pass\n",
}


@pytest.mark.parametrize(
    ("code", "marker"),
    [
        (None, "BUG"),
        ("E902", "BUG"),
        ("F821", "BUG"),
        ("F841", "BUG"),
        ("F401", "REFACTOR"),
        ("B006", "BUG"),
        ("PLE1142", "BUG"),
        ("PERF401", "PERFORMANCE"),
        ("SIM103", "REFACTOR"),
        ("C401", "REFACTOR"),
        ("FIX001", "TODO"),
        ("FIX002", "TODO"),
    ],
)
def test_rule_families_map_to_markers(code: str | None, marker: str):
    assert marker_for(code) == marker


def test_ruff_findings_become_bugs_refactors_and_todos(tmp_path: Path):
    project = write_tree(tmp_path / "p", CODE)
    before = snapshot(project)
    outcome = run("engineer", project, tmp_path / "run")
    assert outcome.code == 0, outcome.stderr
    assert {(f.marker, f.path, f.line, f.message.split(" ")[0]) for f in outcome.findings} == {
        ("REFACTOR", "src/x/calc.py", 1, "F401"),
        ("REFACTOR", "src/x/calc.py", 6, "SIM103"),
        ("PERFORMANCE", "src/x/calc.py", 15, "PERF401"),
        ("BUG", "src/x/calc.py", 20, "F821"),
        ("TODO", "src/x/calc.py", 24, "open"),
        ("BUG", "src/x/syntax.py", 1, "syntax"),
    }
    todo = next(f for f in outcome.findings if f.marker == "TODO")
    assert todo.message == "open FIXME comment: read the options from a file"
    assert snapshot(project) == before  # the match statement parses: target py311
    assert (tmp_path / "run" / "cache" / "ruff").is_dir()


def test_fix_applies_only_safe_fixes_and_shows_the_diff(tmp_path: Path):
    project = write_tree(tmp_path / "p", CODE)
    outcome = run("engineer", project, tmp_path / "run", options={"fix": True})
    assert outcome.code == 0, outcome.stderr
    fixed = (project / "src/x/calc.py").read_text(encoding="utf-8")
    assert "import os" not in fixed  # F401's fix is safe: applied
    assert "return True" in fixed  # SIM103's fix is unsafe: not applied
    assert "-import os" in outcome.report
    assert "fixes: safe fixes applied to 1 file(s)" in outcome.report
    remaining = {f.message.split(" ")[0] for f in outcome.findings}
    assert "F401" not in remaining
    assert "SIM103" in remaining


def test_todo_comments_can_be_turned_off(tmp_path: Path):
    project = write_tree(tmp_path / "p", CODE)
    outcome = run("engineer", project, tmp_path / "run", options={"todo_comments": False})
    assert not [f for f in outcome.findings if f.marker == "TODO"]


def test_missing_ruff_is_an_error(tmp_path: Path, bare_python: str):
    project = write_tree(tmp_path / "p", CODE)
    outcome = run("engineer", project, tmp_path / "run", python=bare_python)
    assert outcome.code == EXIT_TOOL_MISSING
    assert "ruff is not installed" in outcome.stderr
