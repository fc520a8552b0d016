"""The child-process contract both ways: the hand-off the executor reads, the result it leaves."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from claude_pm.agents.handoff import (
    HANDOFF_VERSION,
    AgentSpec,
    BackendReport,
    Handoff,
    HandoffError,
    RateLimitEvent,
)


def _handoff(tmp_path: Path, **changes: object) -> Handoff:
    fields: dict[str, object] = {
        "run_id": "r1",
        "project_root": str(tmp_path),
        "run_dir": str(tmp_path / "run"),
        "task": "é task",
        "agent": AgentSpec(name="echoer", agent_type="echoer", tools=("Read", "Grep")),
        "backend": "command",
        "context": {"k": "v"},
        "timeout_s": 30.0,
        "budget_usd": 0.5,
        "backend_config": {"model": "m"},
    }
    fields.update(changes)
    return Handoff(**fields)  # type: ignore[arg-type]


def test_round_trip_through_the_file_keeps_every_field(tmp_path: Path) -> None:
    handoff = _handoff(tmp_path)
    handoff.write()
    again = Handoff.read(handoff.handoff_path)
    assert again == handoff
    assert Path(handoff.task_file).read_text(encoding="utf-8") == "é task"
    data = json.loads(Path(handoff.handoff_path).read_text(encoding="utf-8"))
    # The keys programs have read since version 1 are still there.
    assert {"task", "context", "project_root", "agent", "run_id", "task_file"} <= set(data)
    assert data["version"] == HANDOFF_VERSION
    assert pickle.loads(pickle.dumps(handoff)) == handoff


def test_inline_context_only_when_small(tmp_path: Path) -> None:
    assert _handoff(tmp_path).inline_context() is not None
    assert _handoff(tmp_path, context={"k": "v" * 200_000}).inline_context() is None
    with pytest.raises(ValueError, match="JSON"):
        _handoff(tmp_path, context={"k": object()}).to_json()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1]", "not a JSON object"),
        ('{"version": 99}', "version 99"),
        ('{"version": 1, "task": "t"}', "version 1"),
        (json.dumps({"version": HANDOFF_VERSION, "task": "t"}), "lacks"),
    ],
)
def test_a_bad_handoff_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(HandoffError, match=fragment):
        Handoff.from_json(text)


def test_the_executor_enforces_the_version(tmp_path: Path) -> None:
    """A hand-off of another version must not run (it used to, and exit 0)."""
    handoff = _handoff(
        tmp_path,
        agent=AgentSpec(
            name="echoer",
            agent_type="echoer",
            backend_options={"command": [sys.executable, "-c", "print('ran')"]},
        ),
    )
    handoff.write()
    path = Path(handoff.handoff_path)
    data = json.loads(path.read_text(encoding="utf-8"))

    def executor() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "claude_pm.agents.executor", "--agent-type", "echoer"],
            env={"CLAUDE_PM_CONTEXT_FILE": str(path), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = executor()
    assert (ok.returncode, ok.stdout) == (0, "ran\n")
    data["version"] = 99
    path.write_text(json.dumps(data), encoding="utf-8")
    refused = executor()
    assert refused.returncode == 78
    assert refused.stdout == ""
    assert "version 99" in refused.stderr


def test_backend_report_round_trip_and_atomic_write(tmp_path: Path) -> None:
    report = BackendReport(
        backend="anthropic",
        model="claude-x",
        usage={"input_tokens": 10, "output_tokens": 5},
        cost_usd=0.01,
        turns=3,
        session_id="s",
        stop_reason="end_turn",
        rate_limits=(RateLimitEvent("rate_limited", at=1.0, retry_after_s=2.0),),
    )
    path = tmp_path / "result.json"
    report.write(str(path))
    assert BackendReport.read(str(path)) == report
    assert not (tmp_path / "result.json.tmp").exists()
    assert BackendReport.read(str(tmp_path / "absent.json")) is None
    path.write_text('{"version": 7, "backend": "x"}')
    with pytest.raises(HandoffError, match="version 7"):
        BackendReport.read(str(path))
