"""The sample project: each built-in agent reports exactly the problems planted for it.

examples/review-sample is otherwise clean, so any other finding is a false
positive of the agent (or a problem that crept into the sample). Every run
also proves it left the project exactly as it was, hidden files included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import Outcome, run, snapshot

# Six agents over the sample, qa running its test suite under coverage.
pytestmark = pytest.mark.slow

#: (marker, path, line) per agent: the planted problems, and nothing else.
EXPECTED: dict[str, set[tuple[str, str, int]]] = {
    "qa": {("BUG", "tests/test_money.py", 19)},
    "security": {("SECURITY", "src/ledger/settings.py", 5)},
    "documentation": {
        ("TODO", "src/ledger/money.py", 23),
        ("TODO", "src/ledger/report.py", 8),
    },
    "engineer": {
        ("REFACTOR", "src/ledger/money.py", 5),
        ("BUG", "src/ledger/money.py", 29),
        ("TODO", "src/ledger/report.py", 9),
    },
    "ops": set(),
    "data_engineer": {("BUG", "migrations/002_add_entries.sql", 11)},
}


@pytest.fixture(scope="module")
def outcomes(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Each agent's run over the one sample copy, in turn, checking the tree after each."""
    before = snapshot(sample)
    done: dict[str, Outcome] = {}
    for agent in EXPECTED:
        done[agent] = run(agent, sample, tmp_path_factory.mktemp(f"run-{agent}"))
        assert snapshot(sample) == before, f"{agent} changed the project"
    return done


@pytest.mark.parametrize("agent", list(EXPECTED))
def test_sample_reports_exactly_the_planted_problems(
    agent: str, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[agent]
    assert outcome.code == 0, outcome.stderr
    assert outcome.located() == EXPECTED[agent], outcome.report
    assert outcome.report.splitlines()[0].startswith("# ")
    assert "## Summary" in outcome.report


def test_sample_findings_say_what_is_wrong(outcomes: dict[str, Outcome]) -> None:
    messages = {
        agent: {(f.marker, f.path, f.line): (f.priority, f.message) for f in o.findings}
        for agent, o in outcomes.items()
    }
    assert messages["qa"][("BUG", "tests/test_money.py", 19)][1] == (
        "test tests/test_money.py::test_split_keeps_the_total failed (AssertionError)"
    )
    priority, message = messages["security"][("SECURITY", "src/ledger/settings.py", 5)]
    assert priority == "high"
    assert "AWS Access Key" in message
    assert "`format_amount`" in messages["documentation"][("TODO", "src/ledger/money.py", 23)][1]
    engineer = messages["engineer"]
    assert engineer[("REFACTOR", "src/ledger/money.py", 5)][1].startswith("F401 ")
    assert engineer[("BUG", "src/ledger/money.py", 29)][1].startswith("B006 ")
    assert engineer[("TODO", "src/ledger/report.py", 9)][1] == (
        "open TODO comment: group the entries by account before totalling them"
    )
    assert "INSERT" in messages["data_engineer"][("BUG", "migrations/002_add_entries.sql", 11)][1]


def test_sample_key_never_appears_in_the_report(outcomes: dict[str, Outcome]) -> None:
    key = Path(__file__).resolve().parents[3] / "examples/review-sample/src/ledger/settings.py"
    secret = key.read_text(encoding="utf-8").split('"')[-2]
    assert secret.startswith("AKIA")
    for outcome in outcomes.values():
        assert secret not in outcome.report
        assert secret not in outcome.stderr


def test_sample_qa_ran_under_coverage(outcomes: dict[str, Outcome]) -> None:
    report = outcomes["qa"].report
    assert "-m coverage run" in report
    assert "coverage: 100% in total; 0 module(s) under 80%" in report
    assert (outcomes["qa"].run_dir / "coverage.json").is_file()
    assert (outcomes["qa"].run_dir / ".coverage").is_file()
