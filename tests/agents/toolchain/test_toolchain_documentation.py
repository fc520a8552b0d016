"""documentation: missing docstrings and README sections; the API reference when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import run, snapshot, write_tree

from claude_pm.agents.toolchain import EXIT_BAD_OPTIONS, check_options

LIBRARY = {
    "src/lib/__init__.py": "",
    "src/lib/core.py": '''
        """Core things."""

        from typing import overload


        class Engine:
            def start(self, speed: int = 1) -> bool:
                return True

            def _private(self):
                pass

            def __repr__(self):
                return "Engine()"


        class Documented:
            """Has a docstring."""

            def run(self) -> None:
                """Runs."""


        @overload
        def convert(x: int) -> int: ...
        @overload
        def convert(x: str) -> str: ...
        def convert(x):
            """Convert."""
            return x


        async def fetch(url: str) -> bytes:
            return b""


        def _helper():
            pass
    ''',
    "src/lib/_internal.py": "def hidden():\n    pass\n",
    "src/lib/nodoc.py": "VALUE = 1\n",
    "tests/test_core.py": "def test_x():\n    pass\n",
    "README.md": "# lib\n\n## Installation\n\npip install lib\n",
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("lib"), LIBRARY)


def test_public_items_without_docstrings_are_todos(library: Path, tmp_path: Path):
    before = snapshot(library)
    outcome = run("documentation", library, tmp_path / "run")
    assert outcome.code == 0, outcome.stderr
    assert {(f.path, f.line, f.message) for f in outcome.findings} == {
        ("src/lib/core.py", 6, "public class `Engine` has no docstring"),
        ("src/lib/core.py", 7, "public method `Engine.start` has no docstring"),
        ("src/lib/core.py", 33, "public function `fetch` has no docstring"),
        ("src/lib/nodoc.py", 1, "public module has no docstring"),
        ("README.md", 1, "README has no usage section"),
    }
    assert {f.marker for f in outcome.findings} == {"TODO"}
    assert snapshot(library) == before
    assert not (tmp_path / "run" / "api-reference.md").exists()


def test_the_api_reference_goes_to_the_run_directory(library: Path, tmp_path: Path):
    before = snapshot(library)
    outcome = run("documentation", library, tmp_path / "run", options={"api_reference": True})
    reference = (tmp_path / "run" / "api-reference.md").read_text(encoding="utf-8")
    assert "## `lib.core`" in reference
    assert "### `class Engine`" in reference
    assert "#### `Engine.start(self, speed: int=1) -> bool`" in reference
    assert "### `async fetch(url: str) -> bytes`" in reference
    assert "hidden" not in reference
    assert "$RUN_DIR/api-reference.md" in outcome.report
    assert snapshot(library) == before


def test_the_api_reference_goes_into_the_project_only_when_asked(tmp_path: Path):
    project = write_tree(tmp_path / "p", LIBRARY)
    options = {"api_reference_path": "docs/api.md"}
    outcome = run("documentation", project, tmp_path / "run", options=options)
    assert outcome.code == 0
    assert "## `lib.core`" in (project / "docs" / "api.md").read_text(encoding="utf-8")
    assert "written to docs/api.md" in outcome.report


@pytest.mark.parametrize("path", ["../outside.md", "/etc/api.md"])
def test_an_api_reference_path_outside_the_project_is_refused(path: str, tmp_path: Path):
    problems = check_options("documentation", {"api_reference_path": path})
    assert problems and "inside it" in problems[0]
    project = write_tree(tmp_path / "p", LIBRARY)
    outcome = run("documentation", project, tmp_path / "run", options={"api_reference_path": path})
    assert outcome.code == EXIT_BAD_OPTIONS
    assert "api_reference_path" in outcome.stderr


def test_a_missing_readme_and_a_project_without_src(tmp_path: Path):
    project = write_tree(
        tmp_path / "p",
        {
            "tool.py": "def main():\n    pass\n",
            "scripts/do.py": "def x():\n    pass\n",
            "setup.py": "x = 1\n",
        },
    )
    outcome = run("documentation", project, tmp_path / "run")
    assert outcome.located() == {
        ("TODO", "tool.py", 1),
        ("TODO", "README.md", 1),
    }
    assert len(outcome.findings) == 3  # tool.py: the module and main()


def test_a_file_that_does_not_parse_is_skipped_with_a_reason(tmp_path: Path):
    project = write_tree(tmp_path / "p", {"src/a.py": "def broken(:\n", "README.md": "# A\n"})
    outcome = run("documentation", project, tmp_path / "run", options={"check_readme": False})
    assert "- skipped: src/a.py: does not parse" in outcome.report
    assert outcome.findings == []
