"""``claude-pm review`` as a user runs it: a real CLI process over a copy of the sample."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "review-sample"

#: The problems planted in the sample (its README): (type, file, line), and nothing else.
PLANTED: set[tuple[str, str, int]] = {
    ("bug", "tests/test_money.py", 19),
    ("security", "src/ledger/settings.py", 5),
    ("task", "src/ledger/money.py", 23),
    ("task", "src/ledger/report.py", 8),
    ("refactor", "src/ledger/money.py", 5),
    ("bug", "src/ledger/money.py", 29),
    ("task", "src/ledger/report.py", 9),
    ("bug", "migrations/002_add_entries.sql", 11),
}
LEVELS = {"high": "error", "medium": "warning", "low": "note"}


def review(
    project: Path, *args: str, sandbox: str = "off", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_PM_")}
    env["CLAUDE_PM_SANDBOX"] = sandbox
    env["CLAUDE_PM_USER_AGENTS_DIR"] = str(project.parent / "no-user-agents")
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "review", str(project), "--quiet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    copy = tmp_path / "ledger"
    shutil.copytree(SAMPLE, copy)
    return copy


def located(document: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(t["type"], t["file"], t["line"]) for t in document["tickets"]}


def sarif_results(text: str) -> list[dict[str, Any]]:
    from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema

    StaticAnalysisResultsFormatSarifVersion210JsonSchema.model_validate_json(text)
    log = json.loads(text)
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]
    results: list[dict[str, Any]] = run["results"]
    return results


pytestmark = pytest.mark.slow


def test_review_of_the_sample_files_exactly_the_planted_problems(sample: Path) -> None:
    sandbox = "auto"
    out = review(sample, "--json", sandbox=sandbox)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert document["completed"] and document["exit_code"] == 0
    agents = [a["agent"] for a in document["agents"]]
    assert agents == ["qa", "security", "documentation", "engineer", "ops", "data-engineer"]
    assert {a["status"] for a in document["agents"]} == {"completed"}
    assert all(a["wall_time_s"] > 0 and a["peak_rss_bytes"] > 0 for a in document["agents"])
    expected_sandbox = "bwrap" if shutil.which("bwrap") else "none"
    assert {a["sandbox"] for a in document["agents"]} == {expected_sandbox}
    assert located(document) == PLANTED
    assert document["tickets_count"] == len(PLANTED) == document["tickets_created_count"]
    by_agent = {a["agent"]: a for a in document["agents"]}
    assert by_agent["security"]["tickets"] == {"high": 1, "medium": 0, "low": 0}
    assert by_agent["ops"]["tickets"] == {"high": 0, "medium": 0, "low": 0}
    assert sum(document["tickets_by_priority"].values()) == len(PLANTED)
    # The planted key is reported, never repeated.
    assert "AKIA" not in out.stdout
    # Each agent's full report is where the summary says.
    for agent in document["agents"]:
        assert Path(agent["report"]).is_file()

    # Reviewed again: the same problems, all already on file, nothing new.
    again = review(sample, "--json")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert located(second) == PLANTED
    assert second["tickets_created_count"] == 0
    assert {t["id"] for t in second["tickets"]} == {t["id"] for t in document["tickets"]}


def test_sarif_output_and_the_fail_on_gate(sample: Path, tmp_path: Path) -> None:
    target = tmp_path / "review.sarif"
    out = review(
        sample, "--agents", "security,documentation", "--format", "sarif", "--output",
        str(target), "--fail-on", "high",
    )  # fmt: skip
    # The security finding is high: the gate fails the run, the table still prints.
    assert out.returncode == 1, out.stderr
    assert "gate --fail-on high: failed" in out.stdout
    assert "security" in out.stdout and "documentation" in out.stdout
    results = sarif_results(target.read_text(encoding="utf-8"))
    places = {
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in results
    }
    assert places == {
        ("security", "error", "src/ledger/settings.py", 5),
        ("task", "note", "src/ledger/money.py", 23),
        ("task", "note", "src/ledger/report.py", 8),
    }
    assert all(r["properties"]["ticketId"].startswith("PM-") for r in results)

    # Findings below the gate pass it; a gate on findings already filed still counts them.
    low = review(sample, "--agents", "documentation", "--fail-on", "medium")
    assert low.returncode == 0, low.stderr
    assert "gate --fail-on medium: passed" in low.stdout
    filed = review(sample, "--agents", "security", "--fail-on", "high", "--json")
    assert filed.returncode == 1
    document = json.loads(filed.stdout)
    assert document["gate_failed"] and document["tickets_created_count"] == 0


def test_the_shipped_agents_review_unless_project_agents_is_given(sample: Path) -> None:
    from claude_pm.testing import write_python_agent

    # The repository redefines qa: an agent that "finds" nothing and would hide the failure.
    write_python_agent(sample, "qa", "print('all good')")
    shipped = review(sample, "--agents", "qa", "--json")
    assert shipped.returncode == 0, shipped.stderr
    document = json.loads(shipped.stdout)
    assert document["overrides"] == []
    assert located(document) == {("bug", "tests/test_money.py", 19)}

    own = review(sample, "--agents", "qa", "--project-agents")
    assert own.returncode == 0, own.stderr
    assert "override: qa is the project definition" in own.stdout
    assert "tickets: 0 " in own.stdout


def test_a_failing_agent_fails_the_review_and_its_row_says_why(sample: Path) -> None:
    from claude_pm.testing import write_python_agent

    write_python_agent(sample, "flaky", "import sys\nprint('BUG: half done')\nsys.exit(3)")
    out = review(sample, "--agents", "flaky,documentation", "--project-agents", "--json")
    assert out.returncode == 1, out.stderr
    document = json.loads(out.stdout)
    rows = {a["agent"]: a for a in document["agents"]}
    assert rows["flaky"]["status"] == "failed"
    assert "exit code 3" in rows["flaky"]["reason"]
    # The other agent's review still ran (failure policy continue).
    assert rows["documentation"]["status"] == "completed"
    assert document["tickets_by_priority"]["low"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (("--agents", "qa,nosuch"), "nosuch"),
        (("--agents", ","), "--agents names no agent"),
        (("--output", "x.json"), "--output writes the --format document"),
        (("--max-concurrency", "0"), "--max-concurrency must be at least 1"),
    ],
)
def test_bad_input_exits_2_and_says_what_to_fix(
    sample: Path, args: tuple[str, ...], message: str
) -> None:
    out = review(sample, *args)
    assert out.returncode == 2
    assert message in out.stderr
    assert not (sample / ".claude-pm" / "runs").exists() or not any(
        (sample / ".claude-pm" / "runs").iterdir()
    )


def test_under_json_bad_input_is_a_json_error(sample: Path) -> None:
    out = review(sample, "--agents", "qa,nosuch", "--json")
    assert out.returncode == 2
    document = json.loads(out.stdout)
    assert document["error"]["exit_code"] == 2 and "nosuch" in document["error"]["message"]
    assert out.stderr.startswith("claude-pm: error: ")


def test_a_missing_project_is_bad_input(tmp_path: Path) -> None:
    out = review(tmp_path / "nowhere")
    assert out.returncode == 2
    assert "nowhere" in out.stderr
