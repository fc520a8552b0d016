"""The shared run of the LLM backends, in this process, on the scripted model of claude_pm.testing.

The end-to-end tests (test_anthropic.py, test_openai.py) go through the real
SDKs and the supervisor; these drive :func:`run_agent` with a
:class:`~claude_pm.testing.ScriptedModelClient` instead, to run every shipped
agent and every public Claude Code agent file of the corpus, and every way a
run can end, fast.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from claude_pm.agents.backends import llm_agent, llm_options
from claude_pm.agents.backends.agent_tools import TOOLS
from claude_pm.agents.backends.llm_options import RunOptions
from claude_pm.agents.definition import AgentDefinition, Tier
from claude_pm.agents.handoff import AgentSpec, BackendReport, Handoff
from claude_pm.agents.parsing import parse_agent_file
from claude_pm.agents.registry import SHIPPED_DIR
from claude_pm.llm.client import APIErrorKind, ModelClient
from claude_pm.llm.types import FinishReason, ModelRequest, ModelResponse
from claude_pm.testing import ScriptedModelClient, api_error, reply, tool_call
from conftest import SHARED_DIR

CORPUS = SHARED_DIR / "agent-corpus"


class ScriptedProvider:
    """The anthropic backend's settings with a scripted model instead of the SDK."""

    name = "anthropic"
    api = "scripted model"

    def __init__(self, model: ScriptedModelClient) -> None:
        self.scripted = model

    @property
    def options(self) -> Mapping[str, Callable[[Any], str | None]]:
        return llm_options.ANTHROPIC_OPTIONS

    def model(self, handoff: Handoff, options: RunOptions) -> str:
        return llm_options.anthropic_model(handoff.agent.model, None)

    def check_credentials(self, handoff: Handoff, options: RunOptions) -> None:
        return None

    def client(
        self, handoff: Handoff, options: RunOptions, on_response: Callable[[Any], None]
    ) -> ModelClient:
        return self.scripted


def _handoff(project: Path, run_dir: Path, agent: AgentSpec, **fields: Any) -> Handoff:
    run_dir.mkdir(parents=True, exist_ok=True)
    return Handoff(
        run_id=run_dir.name,
        project_root=str(project),
        run_dir=str(run_dir),
        task=fields.pop("task", "Look at the project and report."),
        agent=agent,
        backend="anthropic",
        context={"project_root": str(project)},
        **fields,
    )


def _run(handoff: Handoff, *steps: Any) -> tuple[int, BackendReport, ScriptedModelClient]:
    model = ScriptedModelClient(steps)
    code = llm_agent.run_agent(handoff, ScriptedProvider(model))
    report = BackendReport.read(handoff.result_file)
    assert report is not None
    return code, report, model


def _definitions(folder: Path, tier: Tier) -> list[AgentDefinition]:
    files = sorted(p for p in folder.rglob("*.md") if p.name != "README.md")
    outcomes = [parse_agent_file(p, tier) for p in files]
    return [o.definition for o in outcomes if o.definition is not None]


def _runs_on_the_loop(project: Path, tmp_path: Path, definitions: list[AgentDefinition]) -> None:
    (project / "app.py").write_text("x = 1\n")
    for n, definition in enumerate(definitions):
        steps = (reply(tool_call("Read", {"file_path": "app.py"})), reply("TODO: app.py: x"))
        handoff = _handoff(project, tmp_path / "runs" / f"r{n}", definition.agent_spec())
        code, report, model = _run(handoff, *steps)
        where = str(definition.source_path)
        assert (code, report.stop_reason, report.turns) == (0, "end_turn", 2), where
        first = model.requests[0]
        assert first.system_prompt.startswith(definition.system_prompt.strip()[:200]), where
        names = [t.name for t in first.tools]
        assert set(names) <= set(TOOLS) and names == sorted(names, key=TOOLS.index), where
        result = model.requests[1].messages[-1].content[0]
        assert "x = 1" in getattr(result, "content", ""), where


def test_every_shipped_agent_runs_on_the_loop(project: Path, tmp_path: Path) -> None:
    definitions = _definitions(SHIPPED_DIR, Tier.SHIPPED)
    assert len(definitions) == 11
    _runs_on_the_loop(project, tmp_path, definitions)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the agent corpus is not present")
def test_every_public_claude_code_agent_that_loads_runs_on_the_loop(
    project: Path, tmp_path: Path
) -> None:
    definitions = _definitions(CORPUS, Tier.PROJECT)
    assert len(definitions) >= 350
    _runs_on_the_loop(project, tmp_path, definitions)


AGENT = AgentSpec(name="reviewer", agent_type="reviewer", system_prompt="You review code.")

ENDINGS: list[tuple[str, Any, int, str, str | None]] = [
    ("finished", reply("All good."), 0, "end_turn", None),
    ("declined", reply("No.", finish=FinishReason.REFUSAL), 1, "refusal", None),
    ("cut off", reply("Half", finish=FinishReason.MAX_TOKENS), 3, "max_tokens", None),
    ("rate limited", api_error(APIErrorKind.RATE_LIMITED), 69, "api_error", "rate_limited"),
    ("bad key", api_error(APIErrorKind.AUTHENTICATION), 77, "api_error", "authentication"),
    ("bad request", api_error(APIErrorKind.BAD_REQUEST), 78, "api_error", "bad_request"),
]


@pytest.mark.parametrize(
    ("step", "code", "stop", "kind"), [e[1:] for e in ENDINGS], ids=[e[0] for e in ENDINGS]
)
def test_each_ending_has_its_exit_code_and_report(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    step: Any,
    code: int,
    stop: str,
    kind: str | None,
) -> None:
    exit_code, report, _ = _run(_handoff(project, tmp_path / "run", AGENT), step)
    assert (exit_code, report.stop_reason, report.error_kind) == (code, stop, kind)
    assert report.backend == "anthropic" and report.session_id is not None
    assert (report.error is None) == (code == 0)
    out = capsys.readouterr()
    if isinstance(step, ModelResponse):
        assert out.out == step.content[0].text + "\n"  # type: ignore[union-attr]
    if code:
        assert stop in out.err


def test_a_failure_of_our_own_is_reported_as_internal_error(project: Path, tmp_path: Path) -> None:
    def broken(request: ModelRequest) -> ModelResponse:
        raise RuntimeError("the adapter broke")

    code, report, _ = _run(_handoff(project, tmp_path / "run", AGENT), broken)
    assert code == 70 and report.stop_reason == "internal_error"
    assert "RuntimeError: the adapter broke" in (report.error or "")


def test_a_token_budget_and_max_turns_stop_the_run(project: Path, tmp_path: Path) -> None:
    read = reply(tool_call("Glob", {"pattern": "*"}), input_tokens=5000)
    spec = AgentSpec(
        name="r",
        agent_type="r",
        backend_options={"token_budget": 1000},
        claude_code={"maxTurns": 5},
    )
    code, report, model = _run(_handoff(project, tmp_path / "a", spec), read)
    assert (code, report.stop_reason, len(model.requests)) == (3, "token_budget", 1)
    capped = AgentSpec(name="r", agent_type="r", claude_code={"maxTurns": 1})
    code, report, _ = _run(_handoff(project, tmp_path / "b", capped), read)
    assert (code, report.stop_reason, report.turns) == (3, "max_turns", 1)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"backend_options": {"max_retries": "many"}}, "max_retries must be an integer"),
        ({"model": "my-own-model"}, "no price is known for model 'my-own-model'"),
    ],
)
def test_a_run_that_cannot_start_says_why_before_any_request(
    project: Path, tmp_path: Path, fields: dict[str, Any], says: str
) -> None:
    spec = AgentSpec(name="r", agent_type="r", **fields)
    handoff = _handoff(project, tmp_path / "run", spec, budget_usd=1.0)
    code, report, model = _run(handoff)
    assert code == 78 and model.requests == []
    assert report.stop_reason == "configuration_error" and report.error_kind == "configuration"
    assert says in (report.error or "")


def test_the_backends_load_no_sdk_and_no_loop_until_they_run() -> None:
    # The executor and the parser load a backend to check options: that must stay cheap.
    code = (
        "import sys\n"
        "from claude_pm.agents.backends import load_backend\n"
        "for name in ('anthropic', 'openai'):\n"
        "    assert load_backend(name).check_options({'max_retries': 2}, agent_type='x') == []\n"
        "heavy = ('anthropic', 'openai', 'httpx2', 'pydantic', 'claude_pm.llm', 'yaml')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
