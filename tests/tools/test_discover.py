"""``discover_available_agents`` through the tool handler, as a model calls it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_pm.agents.registry import SHIPPED_DIR
from claude_pm.tools.handler import ClaudeToolHandler

ENTRY_KEYS = {
    "type",
    "name",
    "description",
    "specializations",
    "custom",
    "tier",
    "source_file",
    "model",
    "backend",
    "runnable",
    "unavailable_reason",
    "shadows",
}


@pytest.fixture
def agents_dir(project: Path) -> Path:
    path = project / ".claude" / "agents"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def handler(project: Path) -> ClaudeToolHandler:
    return ClaudeToolHandler({"project_root": str(project)})


def discover(handler: ClaudeToolHandler, **params: object) -> dict:
    result = handler.handle_tool_call("discover_available_agents", params)
    json.dumps(result)  # a tool result is always JSON-able
    return result


def test_lists_every_shipped_agent_with_its_details(handler):
    result = discover(handler)
    assert result["success"] is True
    assert result["total_count"] == len(result["available_agents"]) == 11
    assert result["specialization_filter"] is None and result["includes_custom"] is True
    assert result["problems"] == [] and "known_specializations" not in result
    by_type = {a["type"]: a for a in result["available_agents"]}
    for entry in by_type.values():
        assert set(entry) == ENTRY_KEYS
        assert entry["tier"] == "shipped" and entry["backend"] == "builtin"
        # The core agents run on the builtin toolchain; the two custom ones need a model.
        if entry["custom"]:
            assert entry["runnable"] is False
            assert "no implementation" in entry["unavailable_reason"]
        else:
            assert entry["runnable"] is True and entry["unavailable_reason"] is None
    de = by_type["data_engineer"]
    assert de["name"] == "data-engineer" and de["custom"] is False
    assert de["source_file"] == str(SHIPPED_DIR / "data-engineer.md")
    assert {"data", "pipeline", "etl"} <= set(de["specializations"])
    assert by_type["performance"]["custom"] is True


def test_specialization_filter_is_case_insensitive(handler):
    result = discover(handler, specialization="Security")
    assert [a["type"] for a in result["available_agents"]] == ["security"]
    assert result["specialization_filter"] == "Security"


def test_unknown_specialization_returns_the_known_ones(handler):
    result = discover(handler, specialization="astrology")
    assert result["available_agents"] == [] and result["total_count"] == 0
    assert "testing" in result["known_specializations"]


def test_include_custom_false_leaves_out_custom_and_project_agents(handler, agents_dir):
    (agents_dir / "mine.md").write_text("---\nname: mine\ndescription: m\n---\n", "utf-8")
    all_types = {a["type"] for a in discover(handler)["available_agents"]}
    core = discover(handler, include_custom=False)
    types = {a["type"] for a in core["available_agents"]}
    assert {"mine", "performance", "architecture"} <= all_types
    assert types == all_types - {"mine", "performance", "architecture"}
    assert core["includes_custom"] is False


def test_project_override_and_broken_files_show_in_the_result(handler, agents_dir):
    qa = agents_dir / "qa.md"
    qa.write_text("---\nname: qa\ndescription: Our QA\nmodel: haiku\n---\nTest.\n", "utf-8")
    (agents_dir / "broken.md").write_text("---\nname: ok\ndescription: [\n---\n", "utf-8")
    result = discover(handler, specialization="testing")
    # The project's qa has no specializations: it replaces the shipped one entirely.
    assert [a["type"] for a in result["available_agents"]] == []
    everything = discover(handler)
    entry = next(a for a in everything["available_agents"] if a["type"] == "qa")
    assert entry["tier"] == "project" and entry["custom"] is True and entry["model"] == "haiku"
    assert entry["source_file"] == str(qa)
    assert entry["shadows"] == [str(SHIPPED_DIR / "qa.md")]
    (problem,) = everything["problems"]
    assert problem["path"] == str(agents_dir / "broken.md")
    assert problem["line"] == 4 and problem["severity"] == "error"
    assert "not valid YAML" in problem["message"]


def test_a_new_file_shows_up_on_the_next_call(handler, agents_dir):
    assert discover(handler, specialization="fuzzing")["total_count"] == 0
    (agents_dir / "fuzzer.md").write_text(
        "---\nname: fuzzer\ndescription: Fuzzes\nspecializations: [fuzzing]\n---\n", "utf-8"
    )
    assert [a["type"] for a in discover(handler, specialization="FUZZING")["available_agents"]] == [
        "fuzzer"
    ]


def test_bad_arguments_are_an_error_result(handler):
    result = discover(handler, specialization=3)
    assert result["success"] is False and "specialization" in result["error"]
    result = discover(handler, colour="blue")
    assert result["success"] is False


def test_runnable_says_which_agents_can_run_here_and_the_pm_prompt_says_it_too(
    handler, write_agent
):
    from claude_pm.pm import build_system_prompt, team_from_handler

    write_agent("scanner", "print('ok')")
    entries = {a["type"]: a for a in discover(handler)["available_agents"]}
    assert entries["scanner"]["runnable"] is True
    assert entries["scanner"]["unavailable_reason"] is None
    assert entries["qa"]["runnable"] is True
    assert entries["architecture"]["runnable"] is False
    team = team_from_handler(handler)
    assert team.problem is None
    lines = {m.agent_type: m for m in team.members}
    assert lines["scanner"].unavailable is None
    assert "no implementation" in (lines["architecture"].unavailable or "")
    prompt = build_system_prompt(team)
    line = next(line for line in prompt.splitlines() if line.startswith("- architecture"))
    assert "cannot run here yet" in line
    scanner_line = next(line for line in prompt.splitlines() if line.startswith("- scanner"))
    assert "cannot run" not in scanner_line


def test_definition_problems_in_a_result_are_capped_and_counted(handler, project):
    from claude_pm.tools.results import MAX_PROBLEMS_LISTED

    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    for n in range(MAX_PROBLEMS_LISTED + 5):
        (agents / f"broken-{n}.md").write_text("no front matter\n")
    result = discover(handler)
    assert len(result["problems"]) == MAX_PROBLEMS_LISTED
    assert result["problems_count"] == MAX_PROBLEMS_LISTED + 5
