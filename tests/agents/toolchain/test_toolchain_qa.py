"""qa: pytest (and coverage) really run; failures become BUGs, thin coverage TODOs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from toolchain_support import Outcome, run, snapshot, write_tree

from claude_pm.agents.toolchain import EXIT_TIMEOUT, EXIT_TOOL_MISSING, merge_options

PROJECT = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
    """,
    "src/shop/__init__.py": '"""Shop."""\n',
    "src/shop/cart.py": '''
        """Cart."""


        def total(prices):
            """Sum of prices."""
            return sum(prices)


        def unused_branch(flag):
            """Rarely called."""
            if flag:
                a = 1
                b = 2
                c = 3
                d = 4
                return a + b + c + d
            return 0
    ''',
    "tests/test_cart.py": """
        import pytest
        from hypothesis import given, strategies as st

        from shop.cart import total


        def test_total():
            assert total([1, 2]) == 3


        @pytest.mark.parametrize("prices, expected", [([1], 1), ([2, 2], 5)])
        def test_total_param(prices, expected):
            assert total(prices) == expected


        class TestCart:
            def test_method_fails(self):
                raise ValueError("boom")


        @given(st.lists(st.integers()))
        def test_total_is_sum(prices):
            assert total(prices) == sum(prices)


        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke")


        def test_uses_broken_fixture(broken):
            pass
    """,
    "tests/test_import_error.py": """
        import module_that_does_not_exist


        def test_never_runs():
            pass
    """,
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("shop"), PROJECT)


@pytest.fixture(scope="module")
def shop_run(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, bool]:
    """The default qa run over the shop, and whether it left the tree as it was."""
    before = snapshot(shop)
    outcome = run("qa", shop, tmp_path_factory.mktemp("run"))
    return outcome, snapshot(shop) == before


@pytest.mark.slow
def test_each_failing_test_is_a_bug_naming_it_its_file_and_line(
    shop: Path, shop_run: tuple[Outcome, bool]
):
    # The line is pytest's location of the test: its def line, or its first decorator.
    outcome, unchanged = shop_run
    assert outcome.code == 0, outcome.stderr
    bugs = {(f.path, f.line, f.message) for f in outcome.findings if f.marker == "BUG"}
    assert bugs == {
        (
            "tests/test_cart.py",
            11,
            "test tests/test_cart.py::test_total_param[prices1-5] failed (AssertionError)",
        ),
        (
            "tests/test_cart.py",
            17,
            "test tests/test_cart.py::TestCart::test_method_fails failed (ValueError)",
        ),
        (
            "tests/test_cart.py",
            31,
            "test tests/test_cart.py::test_uses_broken_fixture errored (RuntimeError)",
        ),
        (
            "tests/test_import_error.py",
            1,
            "test tests/test_import_error.py could not be collected (ModuleNotFoundError)",
        ),
    }
    assert "tests: 3 passed, 2 failed, 2 errors, 0 skipped" in outcome.report
    # Hypothesis ran (its database would be in .hypothesis/), coverage and pytest too.
    assert unchanged
    assert not any(p.name == "__pycache__" for p in shop.rglob("*"))
    assert (outcome.run_dir / "cache" / "hypothesis").is_dir()


@pytest.mark.slow
def test_modules_under_the_coverage_threshold_are_todos(
    shop: Path, shop_run: tuple[Outcome, bool], tmp_path: Path
):
    outcome, _ = shop_run
    todos = [f for f in outcome.findings if f.marker == "TODO"]
    assert [(f.path, f.line) for f in todos] == [("src/shop/cart.py", 1)]
    assert todos[0].message == "module coverage is under the 80% threshold; add tests"
    assert "30% of 10 statements covered; missing lines: 11-17" in outcome.report
    # The backend merges the call's test_config over backend_options (merge_options).
    context = {"test_config": {"coverage_threshold": 10, "runner": "pytest"}}
    options = merge_options("qa", {"coverage_threshold": 90}, context)
    assert options == {"coverage_threshold": 10}
    relaxed = run("qa", shop, tmp_path / "relaxed", context=context, options=options)
    assert not [f for f in relaxed.findings if f.marker == "TODO"]


@pytest.mark.slow
def test_file_paths_choose_the_tests_to_run(shop: Path, tmp_path: Path):
    outcome = run(
        "qa", shop, tmp_path / "run", context={"file_paths": ["tests/test_import_error.py"]}
    )
    assert [f.path for f in outcome.findings] == ["tests/test_import_error.py"]


def test_coverage_can_be_turned_off(tmp_path: Path):
    project = write_tree(tmp_path / "p", {"tests/test_a.py": "def test_a():\n    pass\n"})
    outcome = run("qa", project, tmp_path / "run", options={"coverage": False})
    assert outcome.code == 0
    assert "tests: 1 passed, 0 failed, 0 errors, 0 skipped" in outcome.report
    assert "- skipped: coverage: turned off by the coverage option" in outcome.report
    assert "-m coverage" not in outcome.report
    assert not (tmp_path / "run" / ".coverage").exists()


def test_a_project_without_tests_is_reported_not_a_crash(tmp_path: Path, bare_python: str):
    project = write_tree(tmp_path / "p", {"app.py": "print('hi')\n"})
    # No tests means nothing to run: not even pytest is needed.
    outcome = run("qa", project, tmp_path / "run", python=bare_python)
    assert outcome.code == 0
    assert "the project has no test files" in outcome.report
    assert outcome.findings == []


def test_missing_pytest_is_an_error_that_says_what_to_install(tmp_path: Path, bare_python: str):
    project = write_tree(tmp_path / "p", {"tests/test_a.py": "def test_a():\n    pass\n"})
    outcome = run("qa", project, tmp_path / "run", python=bare_python)
    assert outcome.code == EXIT_TOOL_MISSING
    assert f"pytest is not installed for {bare_python}" in outcome.stderr
    assert "pip install" in outcome.stderr


@pytest.mark.slow
def test_the_projects_own_environment_comes_first(tmp_path: Path):
    project = write_tree(tmp_path / "p", {"tests/test_a.py": "def test_a():\n    assert False\n"})
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(project / ".venv")], check=True
    )
    outcome = run("qa", project, tmp_path / "run")
    # The project's .venv has no pytest: the agent says so and uses the configured one.
    assert "- skipped: the project's .venv" in outcome.report
    assert "pytest is not installed there" in outcome.report
    assert outcome.located() == {("BUG", "tests/test_a.py", 1)}


@pytest.mark.slow
def test_a_configured_test_command_runs_instead(shop: Path, tmp_path: Path):
    command = ["{python}", "-m", "pytest", "tests/test_import_error.py"]
    outcome = run("qa", shop, tmp_path / "run", options={"test_command": command})
    assert outcome.code == 0
    assert "a test_command is configured" in outcome.report
    assert outcome.located() == {("BUG", "tests/test_import_error.py", 1)}


def test_a_suite_pytest_cannot_start_is_a_bug_at_its_config(tmp_path: Path):
    project = write_tree(
        tmp_path / "p",
        {
            "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--no-such-option"\n',
            "tests/test_a.py": "def test_a():\n    pass\n",
        },
    )
    outcome = run("qa", project, tmp_path / "run", options={"coverage": False})
    assert outcome.code == 0
    assert [(f.path, f.message) for f in outcome.findings] == [
        ("pyproject.toml", "pytest cannot run the test suite (exit 4)")
    ]


def test_tests_that_outrun_the_tool_timeout_are_killed(tmp_path: Path):
    project = write_tree(
        tmp_path / "p",
        {"tests/test_slow.py": "import time\n\n\ndef test_slow():\n    time.sleep(60)\n"},
    )
    outcome = run("qa", project, tmp_path / "run", options={"tool_timeout_s": 2, "coverage": False})
    assert outcome.code == EXIT_TIMEOUT
    assert "did not finish within 2 s (option tool_timeout_s)" in outcome.stderr
    # The autouse fixture fails the test if pytest (or its test) outlived the kill.
