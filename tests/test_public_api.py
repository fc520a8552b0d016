"""Every name the package exports exists and is what it says."""

from __future__ import annotations

import subprocess
import sys

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
