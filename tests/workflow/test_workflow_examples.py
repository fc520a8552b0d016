"""The example workflows under examples/workflows/ run offline, as their comments say."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_pm.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def keep_signal_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_the_pipeline_example_runs_and_reports(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(project)
    shutil.copytree(EXAMPLES / "workflows" / "pipeline", project)

    code = main(
        ["--project", str(project), "workflow", "run", str(project / "pipeline.yaml"), "--json"]
    )

    result = json.loads(capsys.readouterr().out)
    assert code == 0, result.get("error")
    assert result["completed_tasks"] == 4
    report = (project / "build" / "report.md").read_text()
    assert "| acme | 65 | 14.50 |" in report and "| washers | 500 | 25.00 |" in report
    assert "- totals: completed, 3 customer(s)" in report
    [extract] = [t for t in result["task_results"] if t["task_id"] == "extract"]
    assert extract["tickets_created_count"] == 1


@pytest.mark.slow
def test_the_review_sample_workflow_runs_on_the_builtin_agents(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(project)
    shutil.copytree(EXAMPLES / "review-sample", project)
    path = EXAMPLES / "workflows" / "review-sample.yaml"

    code = main(["--project", str(project), "workflow", "run", str(path), "--json"])

    result = json.loads(capsys.readouterr().out)
    assert code == 0, result.get("error")
    tasks = {t["task_id"]: t for t in result["task_results"]}
    assert list(tasks) == ["tests", "secrets", "docs", "migrations", "deploy", "triage"]
    # Each planted problem is found by its agent (see examples/review-sample/README.md).
    for name in ("tests", "secrets", "docs", "migrations"):
        assert tasks[name]["tickets_found"] >= 1, name
    assert tasks["deploy"]["tickets_found"] == 0
