"""Every name the package exports exists and is what it says."""

from __future__ import annotations

import subprocess
import sys

import pytest

import claude_pm


def test_every_exported_name_resolves():
    for name in claude_pm.__all__:
        assert getattr(claude_pm, name) is not None, name
    assert issubclass(claude_pm.AgentNotFound, claude_pm.ClaudePMError)
    assert len(claude_pm.CLAUDE_PM_TOOLS) == 4


def test_unknown_attribute_is_an_attribute_error():
    try:
        claude_pm.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_errors_survive_pickling():
    import pickle

    err = claude_pm.AgentNotFound("nope", ["qa", "ops"])
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is claude_pm.AgentNotFound
    assert copy.valid_agents == ["ops", "qa"]
    assert copy.message == err.message


def test_executor_imports_stay_light():
    code = (
        "import sys, claude_pm.agents.executor, claude_pm.agents.backends.command; "
        "heavy = [m for m in ('anthropic', 'mcp', 'jsonschema', 'yaml', 'rich', 'pydantic', "
        "'psutil', 'sqlite3', 'claude_pm.tools') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


ERRORS = [
    claude_pm.InvalidInput("bad", field="timeout", expected="a number", problems=["x"]),
    claude_pm.UnknownTool("nope", ["a", "b"]),
    claude_pm.ContextError("outside", field="context.project_root", path="/etc"),
    claude_pm.AgentNotFound("wizard", ["qa"]),
    claude_pm.AgentDefinitionError("bad", path="a.md", line=3, field="name", expected="x"),
    claude_pm.BackendUnavailable("no", agent_type="qa", backend="builtin"),
    claude_pm.SpawnFailed("not found", program="prog", errno=2),
    claude_pm.StoreError("locked", path="/tmp/state.db"),
    claude_pm.TicketError("no ticket", ticket_id="PM-3", status_code=404),
    claude_pm.WorkflowInvalid("cycle", task_id="a"),
    claude_pm.NotAvailable("later", feature="x"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_each_error_declares_its_facts_and_survives_pickling(error):
    """Facts are attributes of the class (visible to mypy), and pickling keeps them all."""
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.message == error.message == str(error)
    assert copy.facts == error.facts
    assert copy.to_dict() == error.to_dict()
    assert vars(copy) == vars(error)


def test_declared_facts_are_attributes():
    assert claude_pm.AgentNotFound("x", ["qa"]).valid_agents == ["qa"]
    assert claude_pm.ContextError("m", path="/p").path == "/p"
    assert claude_pm.TicketError("m", ticket_id="PM-1").ticket_id == "PM-1"
    assert claude_pm.SpawnFailed("m", program="p", errno=2).errno == 2
    assert claude_pm.InvalidInput("m", field="f").field == "f"
    assert not hasattr(claude_pm.TicketError("m", status_code=1), "status_code")


def test_an_unknown_agent_among_hundreds_gets_a_bounded_message():
    valid = [f"agent-{n:03d}" for n in range(200)]
    error = claude_pm.AgentNotFound("wizard", valid)
    assert "and 150 more" in error.message
    assert len(error.facts["valid_agents"]) == 50 and error.facts["valid_agents_count"] == 200
    assert len(error.valid_agents) == 200
