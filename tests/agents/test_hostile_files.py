"""Hostile definition files: each is refused at a bounded cost, and never hides the others.

Real files in ``tmp_path`` (sparse where they are huge), real symbolic links,
memory measured with ``tracemalloc``, work measured by what the registry counts.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from claude_pm import ClaudeToolHandler
from claude_pm.agents.definition import Tier
from claude_pm.agents.fields import render_definition
from claude_pm.agents.limits import (
    DESCRIPTION_MAX_CHARS,
    MAX_DIRECTORIES_PER_TIER,
    MAX_ENTRIES_PER_TIER,
    MAX_FILE_BYTES,
    MAX_FRONT_MATTER_CHARS,
    MAX_PROBLEMS_PER_FILE,
    MAX_YAML_VALUES,
)
from claude_pm.agents.parsing import parse_agent_file, parse_agent_text
from claude_pm.agents.registry import AgentRegistry
from claude_pm.config import load_settings
from claude_pm.tools.results import discovery_result

MiB = 1024 * 1024


def definition(name: str, *extra: str, body: str = "You help.") -> str:
    lines = [f"name: {name}", f"description: {name} agent", *extra]
    return "---\n" + "\n".join(lines) + f"\n---\n{body}\n"


def write(directory: Path, filename: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "project" / ".claude" / "agents"
    write(directory, "good.md", definition("good"))
    return directory


def peak_traced_bytes(action: Callable[[], Any]) -> tuple[Any, int]:
    """``action()`` and the peak of memory Python allocated while it ran."""
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def only_problem(registry: AgentRegistry, name: str) -> Any:
    problems = [p for p in registry.problems() if p.path.name == name]
    assert len(problems) == 1, problems
    return problems[0]


def assert_short(problem: Any) -> None:
    """What the model would be told about the file: a sentence, not the file."""
    assert len(problem.message) < 400, problem.message
    assert len(json.dumps(problem.to_dict())) < 1200


# -- 5. YAML alias bombs ---------------------------------------------------------------


def laughs(levels: int = 9, fanout: int = 10, key: str = "lol") -> list[str]:
    """A "billion laughs": ``fanout ** levels`` strings from ``levels * fanout`` aliases."""
    lines = [f'{key}0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"{key}{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]")
    return lines


ALIAS_BOMBS = {
    # Unknown fields are kept for export: the old code json.dumps()-ed each of them.
    "unknown fields": definition("bomb", *laughs()),
    # A checked field: the old code built repr() of the expansion for its error message.
    "a checked field": definition("bomb", *laughs(), "tools: *a9"),
    "merge keys": definition(
        "bomb",
        "m0: &m0 {x: 1}",
        *(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 9)),
    ),
    "nested mappings": definition(
        "bomb",
        "h0: &h0 {x: lol}",
        *(
            f"h{i}: &h{i} {{{', '.join(f'k{j}: *h{i - 1}' for j in range(10))}}}"
            for i in range(1, 10)
        ),
    ),
}


@pytest.mark.parametrize("text", ALIAS_BOMBS.values(), ids=ALIAS_BOMBS.keys())
def test_an_alias_bomb_loads_nothing_costs_little_and_hides_nothing(agents_dir, text):
    write(agents_dir, "bomb.md", text)
    registry = AgentRegistry(agents_dir, None)
    discovery, peak = peak_traced_bytes(registry.discover)
    assert peak < 20 * MiB, f"discovery allocated {peak / MiB:.0f} MiB at its peak"
    types = {d.agent_type for d in discovery.agents}
    assert "good" in types and "qa" in types and "bomb" not in types
    problem = only_problem(registry, "bomb.md")
    assert f"more than {MAX_YAML_VALUES:,} values" in problem.message
    assert problem.line is not None and problem.line > 2
    assert_short(problem)


def test_aliases_within_the_budget_still_load():
    text = definition(
        "reuser",
        "base: &base {type: command, command: lint}",
        "hooks: {PreToolUse: [{matcher: Bash, hooks: [*base]}], Stop: [{hooks: [*base]}]}",
    )
    outcome = parse_agent_text(text, Path("reuser.md"))
    assert outcome.definition is not None, outcome.problems
    hooks = outcome.definition.claude_code["hooks"]
    assert hooks["Stop"][0]["hooks"][0] == {"type": "command", "command": "lint"}


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("hooks: " + "[" * 40 + "]" * 40, "more than 32 deep"),
        (
            "hooks:\n" + "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "x: 1",
            "deep",
        ),
        ("loop: &x {self: *x}", "inside the value it names"),
        ("many: [" + ", ".join("x" for _ in range(MAX_YAML_VALUES)) + "]", "more than 10,000"),
    ],
    ids=["flow nesting", "block nesting", "a loop", "a plain list past the budget"],
)
def test_front_matter_past_the_yaml_limits_is_one_short_problem(extra, fragment):
    outcome = parse_agent_text(definition("deep", extra), Path("deep.md"))
    assert outcome.definition is None
    (error,) = outcome.errors
    assert fragment in error.message
    assert_short(error)


def test_front_matter_over_its_size_limit_is_not_parsed():
    padding = "# " + "x" * MAX_FRONT_MATTER_CHARS
    outcome = parse_agent_text(definition("long", padding), Path("long.md"))
    assert outcome.definition is None
    (error,) = outcome.errors
    assert f"at most {MAX_FRONT_MATTER_CHARS:,}" in error.message and error.line == 1
    # A long body is fine: only the front matter is YAML.
    outcome = parse_agent_text(definition("long", body="x" * MAX_FRONT_MATTER_CHARS * 4), Path())
    assert outcome.definition is not None


# -- 6. numbers ------------------------------------------------------------------------


def handler_for(project: Path) -> ClaudeToolHandler:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project)}
    return ClaudeToolHandler(settings=load_settings(project_root=project, environ=env))


def test_a_5000_digit_timeout_is_one_problem_and_other_agents_run(project, write_agent):
    write_agent("worker", "print('worked')")
    agents = project / ".claude" / "agents"
    write(agents, "huge.md", definition("huge", "timeout: 1" + "0" * 5000))
    handler = handler_for(project)

    found = handler.handle_tool_call("discover_available_agents", {})
    assert found["success"], found
    assert {"worker", "qa"} <= {a["type"] for a in found["available_agents"]}
    (problem,) = [p for p in found["problems"] if p["path"].endswith("huge.md")]
    assert (problem["field"], problem["line"]) == ("timeout", 4)
    assert "5,001 digits" in problem["message"] and len(problem["message"]) < 300

    ran = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "worker", "task_description": "go"}
    )
    assert ran["success"], ran
    assert ran["output"].strip() == "worked"


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        ("timeout: 0x" + "f" * 5000, "timeout", "digits"),  # int() of hex has no digit limit
        ("timeout: 0x" + "f" * 18, "timeout", "10**18"),
        ("maxTurns: 1" + "0" * 30, "maxTurns", "31 digits"),
        ("memory_limit: 1" + "0" * 5000 + ".5", "memory_limit", "megabytes"),  # a float: inf
        ("timeout: 86401", "timeout", "at most 86,400"),
        ("memory_limit: 2000000", "memory_limit", "at most 1,048,576"),
        ("timeout: .nan", "timeout", "seconds"),
        ("released: 2024-02-30", None, "day is out of range"),  # a YAML error: no field
    ],
    ids=["hex", "hex past 10**18", "max turns", "float", "a day", "a TiB", "nan", "bad date"],
)
def test_numbers_out_of_range_are_a_clear_problem(agents_dir, line, field, fragment):
    write(agents_dir, "odd.md", definition("odd", line))
    registry = AgentRegistry(agents_dir, None)
    assert registry.get("good").source_path == agents_dir / "good.md"
    problem = only_problem(registry, "odd.md")
    assert (problem.field, problem.line) == (field, 4), problem
    assert fragment in problem.message + " " + (problem.expected or "")
    assert_short(problem)


def test_the_timeout_the_tool_accepts_is_the_one_a_file_may_set():
    outcome = parse_agent_text(definition("day", "timeout: 86400"), Path("day.md"))
    assert outcome.definition is not None and outcome.definition.timeout_s == 86_400


def test_problems_per_file_are_capped_and_the_rest_counted():
    keys = [f"unknown{i}: x" for i in range(300)]
    outcome = parse_agent_text(definition("noisy", *keys, "maxTurns: 0"), Path("noisy.md"))
    assert outcome.definition is None  # the error past the cap still counts
    assert len(outcome.problems) == MAX_PROBLEMS_PER_FILE + 1
    summary = outcome.problems[-1]
    assert "281 more problems" in summary.message and "1 of them errors" in summary.message
    assert summary.severity == "error"


# -- 7. symbolic links -----------------------------------------------------------------


def test_a_folder_link_to_the_root_of_the_file_system_is_not_followed(agents_dir):
    (agents_dir / "everything").symlink_to("/", target_is_directory=True)
    registry = AgentRegistry(agents_dir, None)
    assert registry.get("good").tier is Tier.PROJECT
    problem = only_problem(registry, "everything")
    assert "outside the project tier's root" in problem.message and ": /;" in problem.message
    assert registry.entries_examined < 50  # two folders: the project's and the shipped one
    assert all(
        str(f).startswith(str(agents_dir)) or f.parent.name == "shipped" for f in registry.files()
    )


def test_a_folder_link_to_a_sibling_folder_is_not_followed(agents_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    write(outside, "intruder.md", definition("intruder"))
    (agents_dir / "shared").symlink_to(outside, target_is_directory=True)
    registry = AgentRegistry(agents_dir, None)
    assert "intruder" not in {d.agent_type for d in registry.agents()}
    problem = only_problem(registry, "shared")
    assert str(outside) in problem.message and "folder" in problem.message
    assert outside / "intruder.md" not in registry.files()


def test_a_relative_folder_link_that_climbs_out_is_not_followed(agents_dir, tmp_path):
    write(tmp_path / "project" / "secrets", "leak.md", definition("leak"))
    (agents_dir / "up").symlink_to(Path("..") / ".." / "secrets", target_is_directory=True)
    registry = AgentRegistry(agents_dir, None)
    assert "leak" not in {d.agent_type for d in registry.agents()}
    assert "not followed" in only_problem(registry, "up").message


def test_folder_links_inside_the_root_are_followed_once(agents_dir):
    write(agents_dir / "team", "member.md", definition("member"))
    (agents_dir / "alias").symlink_to(agents_dir / "team", target_is_directory=True)
    (agents_dir / "team" / "loop").symlink_to(agents_dir, target_is_directory=True)
    registry = AgentRegistry(agents_dir, None)
    assert registry.get("member").tier is Tier.PROJECT
    assert registry.problems() == [] and registry.warnings() == []  # read once, no clash
    assert len([f for f in registry.files() if f.name == "member.md"]) == 1


def test_a_file_link_out_of_the_root_is_refused_and_one_inside_is_followed(agents_dir, tmp_path):
    outside = write(tmp_path / "elsewhere", "stolen.md", definition("stolen"))
    (agents_dir / "stolen.md").symlink_to(outside)
    template = write(agents_dir / "templates", "linked.txt", definition("linked"))
    (agents_dir / "linked.md").symlink_to(Path("templates") / "linked.txt")
    registry = AgentRegistry(agents_dir, None)

    types = {d.agent_type for d in registry.agents()}
    assert "stolen" not in types
    problem = only_problem(registry, "stolen.md")
    assert str(outside) in problem.message and "file outside" in problem.message

    linked = registry.get("linked")
    assert linked.source_path == agents_dir / "linked.md"
    template.write_text(definition("linked", "model: opus"), encoding="utf-8")
    assert registry.get("linked").model == "opus"  # an edit of the target is seen


def test_a_file_link_retargeted_outside_is_refused_at_once(agents_dir, tmp_path):
    inside = write(agents_dir / "store", "agent.txt", definition("moving"))
    outside = write(tmp_path / "elsewhere", "agent.md", definition("moving", "model: opus"))
    link = agents_dir / "moving.md"
    link.symlink_to(inside)
    registry = AgentRegistry(agents_dir, None)
    assert registry.get("moving").model is None
    link.unlink()
    link.symlink_to(outside)
    assert "moving" not in {d.agent_type for d in registry.agents()}
    assert "outside" in only_problem(registry, "moving.md").message


def test_the_walk_stops_at_its_folder_limit_and_says_what_it_skipped(tmp_path):
    root = tmp_path / "agents"
    for i in range(MAX_DIRECTORIES_PER_TIER + 5):
        (root / f"d{i:04d}").mkdir(parents=True)
    write(root, "top.md", definition("top"))
    registry = AgentRegistry(root, None)
    assert registry.get("top").tier is Tier.PROJECT
    (problem,) = [p for p in registry.problems() if p.path == root]
    assert f"more than {MAX_DIRECTORIES_PER_TIER:,} folders" in problem.message
    assert "6 folders not walked" in problem.message
    assert_short(problem)


def test_the_walk_stops_at_its_entry_limit(tmp_path):
    root = tmp_path / "agents"
    crowd = root / "crowd"
    crowd.mkdir(parents=True)
    for i in range(MAX_ENTRIES_PER_TIER + 10):
        os.close(os.open(crowd / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    write(root, "top.md", definition("top"))
    registry = AgentRegistry(root, None)
    assert registry.get("top").tier is Tier.PROJECT
    (problem,) = [p for p in registry.problems() if p.path == root]
    assert f"more than {MAX_ENTRIES_PER_TIER:,} directory entries" in problem.message
    assert f"the rest of {crowd}" in problem.message
    assert registry.entries_examined <= MAX_ENTRIES_PER_TIER + 20  # the shipped tier's too


# -- 8. sizes --------------------------------------------------------------------------


def test_a_300_mb_file_is_refused_without_being_read(agents_dir):
    huge = write(agents_dir, "huge.md", definition("huge"))
    os.truncate(huge, 300 * MiB)  # sparse: the test stays cheap
    registry = AgentRegistry(agents_dir, None)
    discovery, peak = peak_traced_bytes(registry.discover)
    assert peak < 5 * MiB, f"discovery allocated {peak / MiB:.0f} MiB at its peak"
    assert "good" in {d.agent_type for d in discovery.agents}
    problem = only_problem(registry, "huge.md")
    assert "300.0 MiB" in problem.message and "1.0 MiB" in problem.message
    outcome, peak = peak_traced_bytes(lambda: parse_agent_file(huge))
    assert outcome.definition is None and peak < 5 * MiB


def test_a_file_just_over_the_limit_is_refused_and_one_at_it_loads(agents_dir):
    text = definition("edge")
    at_limit = write(agents_dir, "edge.md", text + "x" * (MAX_FILE_BYTES - len(text)))
    over = write(agents_dir, "over.md", definition("over") + "x" * MAX_FILE_BYTES)
    assert at_limit.stat().st_size == MAX_FILE_BYTES
    registry = AgentRegistry(agents_dir, None)
    assert registry.get("edge").tier is Tier.PROJECT
    assert "1.0 MiB" in only_problem(registry, over.name).message


def test_a_50_mb_description_is_refused_with_its_file(agents_dir):
    text = definition("verbose").replace("verbose agent", "y" * 50 * MiB)
    write(agents_dir, "verbose.md", text)
    registry = AgentRegistry(agents_dir, None)
    result = discovery_result(registry.discover(), "builtin")
    assert len(json.dumps(result)) < 100_000
    assert "good" in {a["type"] for a in result["available_agents"]}
    assert "MiB" in only_problem(registry, "verbose.md").message


def test_a_long_description_is_cut_for_the_model_and_kept_for_the_file(agents_dir):
    long = "Reviews code. " * 4000  # 56,000 characters: as long as front matter may hold
    write(agents_dir, "wordy.md", definition("wordy").replace("wordy agent", long.strip()))
    registry = AgentRegistry(agents_dir, None)
    result = discovery_result(registry.discover(), "builtin")
    (entry,) = [a for a in result["available_agents"] if a["type"] == "wordy"]
    assert len(entry["description"]) < DESCRIPTION_MAX_CHARS + 80
    assert entry["description"].startswith("Reviews code. Reviews code.")
    assert "description cut: 55,999 characters in all" in entry["description"]
    assert entry["description_truncated"] is True and entry["description_chars"] == 55_999
    good = next(a for a in result["available_agents"] if a["type"] == "good")
    assert "description_truncated" not in good and "description_chars" not in good
    (warning,) = [w for w in result["warnings"] if w["path"].endswith("wordy.md")]
    assert warning["field"] == "description" and "55,999" in warning["message"]

    wordy = registry.get("wordy")
    assert wordy.description == entry["description"]
    from claude_pm.pm.team import team_from_registry

    (member,) = [m for m in team_from_registry(registry).members if m.agent_type == "wordy"]
    assert member.description == entry["description"]  # the PM prompt's team line
    assert wordy.full_description == long.strip()  # kept for an export and the agent's run
    assert wordy.agent_spec().description == long.strip()
    exported = parse_agent_text(render_definition(wordy), Path("exported.md")).definition
    assert exported is not None and exported.full_description == long.strip()
