"""The registry: shipped agents, tiers and precedence, problems, and the mtime cache."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from claude_pm.agents.definition import BASE_CONTEXT_KEYS, Tier
from claude_pm.agents.registry import SHIPPED_DIR, AgentRegistry
from claude_pm.config import load_settings
from claude_pm.errors import AgentNotFound

CORE = {
    "documentation": {"docs", "api", "guides"},
    "qa": {"testing", "quality", "validation"},
    "security": {"security", "vulnerability", "compliance"},
    "engineer": {"code", "implementation", "development"},
    "ops": {"deployment", "infrastructure", "monitoring"},
    "versioner": {"git", "version", "release"},
    "researcher": {"research", "analysis", "investigation"},
    "data_engineer": {"data", "pipeline", "etl"},
    "ticketer": {"tickets", "workflow", "tracking"},
}
CUSTOM = {
    "performance": {"performance", "optimization", "profiling"},
    "architecture": {"architecture", "design", "patterns"},
}
CONTEXT_KEYS = {
    "security": {"security_config", "vulnerability_data", "compliance_requirements", "file_paths"},
    "qa": {"test_config", "coverage_data", "quality_metrics", "file_paths"},
    "documentation": {"doc_config", "api_schemas", "user_guides", "file_paths"},
    "engineer": {"code_config", "build_config", "dependencies", "file_paths"},
    "ops": {"deployment_config", "infrastructure", "monitoring", "file_paths"},
    "versioner": {"git_config", "branch_strategy", "release_config"},
    "researcher": {"research_sources", "analysis_config", "data_sources"},
    "data_engineer": {"data_config", "pipeline_config", "storage_config"},
    "ticketer": {"ticket_config", "workflow_config", "integration_config", "ticket_snapshot"},
}
TAGS = ("TODO:", "FIXME:", "BUG:", "SECURITY:", "PERFORMANCE:", "REFACTOR:", "FEATURE:")


def write(directory: Path, filename: str, name: str, *extra: str, age_s: float = 0) -> Path:
    """A valid definition file; ``age_s`` back-dates it (as if edited that long ago)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    lines = [f"name: {name}", f"description: {name} agent", *extra]
    path.write_text("---\n" + "\n".join(lines) + f"\n---\nYou are {name}.\n", encoding="utf-8")
    if age_s:
        backdate(path, age_s)
    return path


def backdate(path: Path, age_s: float = 60) -> None:
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "project" / ".claude" / "agents", tmp_path / "user-agents"


def test_shipped_agents_are_the_nine_core_and_two_custom_ones():
    registry = AgentRegistry(None, None)
    agents = {d.agent_type: d for d in registry.agents()}
    assert set(agents) == set(CORE) | set(CUSTOM)
    assert registry.problems() == [] and registry.warnings() == []
    for agent_type, required in (CORE | CUSTOM).items():
        d = agents[agent_type]
        assert d.tier is Tier.SHIPPED
        assert d.custom is (agent_type in CUSTOM)
        assert required <= set(d.specializations), agent_type
        # No pinned backend: each runs on the configured one (builtin by default).
        assert d.backend is None and d.model and d.tools
        assert len(d.description) > 80 and len(d.system_prompt) > 1000
        assert any(tag in d.system_prompt for tag in TAGS)
        assert d.timeout_s and d.memory_limit_mb
        assert d.source_path is not None and d.source_path.parent == SHIPPED_DIR
        if agent_type in CONTEXT_KEYS:
            assert set(d.context_keys) == CONTEXT_KEYS[agent_type]
        assert set(BASE_CONTEXT_KEYS) <= set(d.visible_context_keys())
    assert registry.agents(include_custom=False) == [
        d for d in registry.agents() if d.agent_type in CORE
    ]


@pytest.mark.parametrize("spelling", ["data-engineer", "data_engineer", "Data-Engineer", "QA"])
def test_get_accepts_any_spelling_of_a_type(spelling):
    d = AgentRegistry(None, None).get(spelling)
    assert d.agent_type == spelling.lower().replace("-", "_")


@pytest.mark.parametrize("spelling", ["qa\n", " qa", "qa ", "qa\t"])
def test_surrounding_whitespace_is_part_of_the_name(spelling):
    """``"qa\\n"`` must not run ``qa``: lookups compare the whole name."""
    with pytest.raises(AgentNotFound):
        AgentRegistry(None, None).get(spelling)


def test_unknown_agent_lists_the_valid_ones():
    with pytest.raises(AgentNotFound) as info:
        AgentRegistry(None, None).get("wizard")
    assert info.value.agent_type == "wizard"
    assert "qa" in info.value.valid_agents and "data_engineer" in info.value.valid_agents
    assert "qa" in info.value.message


def test_project_overrides_user_overrides_shipped(dirs):
    project, user = dirs
    project_qa = write(project, "qa.md", "qa", "specializations: [testing]")
    user_qa = write(user, "qa.md", "qa")
    user_only = write(user, "helper.md", "helper")
    registry = AgentRegistry(project, user)
    qa = registry.get("qa")
    assert qa.tier is Tier.PROJECT and qa.source_path == project_qa
    assert qa.shadows == (user_qa, SHIPPED_DIR / "qa.md")
    assert qa.custom
    helper = registry.get("helper")
    assert helper.tier is Tier.USER and helper.source_path == user_only and helper.shadows == ()
    assert registry.warnings() == []  # overriding across tiers is intended, not a clash


def test_tier_comes_from_the_root_not_from_the_path_text(tmp_path):
    # A project whose path looks like the shipped folder, a user folder that looks like a project.
    project = tmp_path / "claude_pm" / "agents" / "shipped" / ".claude" / "agents"
    user = tmp_path / "project" / ".claude" / "agents"
    write(project, "alpha.md", "alpha")
    write(user, "beta.md", "beta")
    registry = AgentRegistry(project, user)
    assert registry.get("alpha").tier is Tier.PROJECT
    assert registry.get("beta").tier is Tier.USER
    assert registry.get("alpha").custom and registry.get("beta").custom


def test_a_root_nested_in_another_belongs_to_its_own_tier(dirs):
    project, _ = dirs
    nested_user = project / "personal"
    write(project, "alpha.md", "alpha")
    write(nested_user, "beta.md", "beta")
    registry = AgentRegistry(project, nested_user)
    assert registry.get("alpha").tier is Tier.PROJECT
    assert registry.get("beta").tier is Tier.USER
    assert len([f for f in registry.files() if f.name == "beta.md"]) == 1


def test_the_same_folder_as_project_and_user_is_read_once(dirs):
    project, _ = dirs
    write(project, "alpha.md", "alpha")
    registry = AgentRegistry(project, project)
    assert registry.get("alpha").tier is Tier.PROJECT
    assert registry.get("alpha").shadows == () and registry.warnings() == []


def test_a_broken_file_never_hides_the_valid_ones(dirs):
    project, _ = dirs
    write(project, "good.md", "good")
    (project / "bad.md").write_text("---\nname: Bad Name\ndescription: x\n---\n", "utf-8")
    (project / "worse.md").write_bytes(b"\xff\xfe not text")
    registry = AgentRegistry(project, None)
    assert registry.get("good").source_path == project / "good.md"
    problems = {p.path.name: p for p in registry.problems()}
    assert set(problems) == {"bad.md", "worse.md"}
    assert (problems["bad.md"].field, problems["bad.md"].line) == ("name", 2)
    discovery = registry.discover()
    assert {p.path.name for p in discovery.problems} == {"bad.md", "worse.md"}
    assert "good" in {d.agent_type for d in discovery.agents}


def test_same_name_twice_in_one_tier_warns_and_the_nearest_file_wins(dirs):
    project, _ = dirs
    nested = write(project / "team", "a.md", "dup")
    top = write(project, "z.md", "dup")
    spelled = write(project, "b.md", "dup_")  # a different type
    registry = AgentRegistry(project, None)
    winner = registry.get("dup")
    assert winner.source_path == top and winner.shadows == (nested,)
    (clash,) = registry.warnings()
    assert clash.path == nested and clash.field == "name" and str(top) in clash.message
    assert registry.get("dup_").source_path == spelled


def test_hyphen_and_underscore_names_are_the_same_agent(dirs):
    project, _ = dirs
    write(project, "de.md", "data_engineer")
    registry = AgentRegistry(project, None)
    assert registry.get("data-engineer").source_path == project / "de.md"
    assert registry.get("data-engineer").shadows == (SHIPPED_DIR / "data-engineer.md",)


def test_readme_hidden_and_other_files_are_not_agents(dirs):
    project, _ = dirs
    write(project, "real.md", "real")
    (project / "README.md").write_text("# Our agents\n", "utf-8")
    (project / "notes.txt").write_text("x", "utf-8")
    write(project / ".trash", "old.md", "old")
    write(project, ".hidden.md", "hidden")
    registry = AgentRegistry(project, None)
    assert [f.name for f in registry.files() if f.parent == project] == ["real.md"]
    assert registry.problems() == []


def test_symlinked_folders_inside_the_tier_are_followed_without_looping_and_others_not(
    dirs, tmp_path
):
    project, _ = dirs
    library = project / "library"
    write(library, "linked.md", "linked")
    (project / "shared").symlink_to(library, target_is_directory=True)
    (library / "loop").symlink_to(library, target_is_directory=True)
    outside = tmp_path / "shared-agents"
    write(outside, "foreign.md", "foreign")
    (project / "foreign").symlink_to(outside, target_is_directory=True)
    registry = AgentRegistry(project, None)
    assert registry.get("linked").tier is Tier.PROJECT
    assert registry.warnings() == []  # one folder, walked once
    with pytest.raises(AgentNotFound):
        registry.get("foreign")
    (problem,) = registry.problems()
    assert problem.path == project / "foreign" and "not followed" in problem.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_problem(dirs):
    project, _ = dirs
    path = write(project, "secret.md", "secret")
    path.chmod(0)
    try:
        (problem,) = AgentRegistry(project, None).problems()
        assert problem.path == path and "cannot read" in problem.message
    finally:
        path.chmod(0o644)


def test_discover_filters_by_specialization_case_insensitively(dirs):
    project, _ = dirs
    write(project, "tester.md", "tester", "specializations: [Testing, e2e]")
    registry = AgentRegistry(project, None)
    found = registry.discover("TESTING")
    assert {d.agent_type for d in found.agents} == {"qa", "tester"}
    assert found.specialization_filter == "TESTING" and found.known_specializations is None
    core = registry.discover("testing", include_custom=False)
    assert [d.agent_type for d in core.agents] == ["qa"] and not core.includes_custom
    assert [d.agent_type for d in registry.discover("Profiling").agents] == ["performance"]


def test_unknown_specialization_gives_nothing_and_the_known_ones():
    result = AgentRegistry(None, None).discover("astrology")
    assert result.agents == ()
    assert result.known_specializations is not None
    assert {"testing", "docs", "etl", "profiling"} <= set(result.known_specializations)
    core = AgentRegistry(None, None).discover("astrology", include_custom=False)
    assert "profiling" not in (core.known_specializations or ())


def test_repeated_discovery_parses_nothing(dirs):
    project, user = dirs
    for i in range(5):
        write(project, f"a{i}.md", f"a{i}", age_s=60)
    backdate(project, 60)
    registry = AgentRegistry(project, user)
    first = registry.discover()
    parsed = registry.files_parsed
    assert parsed == 5 + 11
    for _ in range(3):
        assert registry.discover() is first
        registry.get("a3")
    assert registry.files_parsed == parsed


def test_new_edited_and_deleted_files_are_seen_at_once(dirs):
    project, user = dirs
    write(project, "a.md", "a", age_s=60)
    write(project, "b.md", "b", age_s=60)
    backdate(project, 60)
    registry = AgentRegistry(project, user)
    assert registry.get("a").description == "a agent"
    parsed = registry.files_parsed

    # Same size, written within the file system's clock tick: still seen.
    (project / "a.md").write_text(
        (project / "a.md").read_text("utf-8").replace("a agent", "A agent"), "utf-8"
    )
    assert registry.get("a").description == "A agent"
    assert registry.files_parsed == parsed + 1  # only the edited file

    write(project / "sub", "c.md", "c")
    assert registry.get("c").tier is Tier.PROJECT
    (project / "b.md").unlink()
    with pytest.raises(AgentNotFound):
        registry.get("b")
    write(user, "d.md", "d")  # the user folder did not exist before
    assert registry.get("d").tier is Tier.USER
    (project / "a.md").write_text("broken", "utf-8")
    assert [p.path.name for p in registry.problems()] == ["a.md"]


def test_an_old_file_replaced_by_an_older_copy_is_seen(dirs):
    project, _ = dirs
    path = write(project, "a.md", "a", age_s=120)
    registry = AgentRegistry(project, None)
    registry.agents()
    path.write_text("---\nname: a\ndescription: changed\n---\n", "utf-8")
    backdate(path, 300)  # e.g. restored from a backup with its old mtime
    assert registry.get("a").description == "changed"


def test_from_settings_uses_the_project_and_user_folders(project, isolated_home):
    write(project / ".claude" / "agents", "p.md", "p")
    write(isolated_home / ".claude" / "agents", "u.md", "u")
    registry = AgentRegistry.from_settings(load_settings(project_root=project))
    assert registry.get("p").tier is Tier.PROJECT
    assert registry.get("u").tier is Tier.USER
    assert [t for t, _ in registry.roots] == [Tier.PROJECT, Tier.USER, Tier.SHIPPED]


def test_concurrent_lookups_while_files_change(dirs):
    project, _ = dirs
    write(project, "stable.md", "stable")
    registry = AgentRegistry(project, None)
    errors: list[BaseException] = []
    start = threading.Barrier(9)
    done = threading.Event()

    def reader() -> None:
        start.wait()
        try:
            while not done.is_set():
                assert registry.get("stable").agent_type == "stable"
                assert registry.get("qa").tier is Tier.SHIPPED
                registry.discover("testing")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    start.wait()
    for i in range(40):
        write(project, f"n{i}.md", f"n{i}")
        if i % 3 == 0:
            (project / f"n{i}.md").unlink()
    done.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[0]
    assert len([d for d in registry.agents() if d.agent_type.startswith("n")]) == 40 - 14


def test_shipped_front_matter_is_read_without_pyyaml():
    from claude_pm.agents.parsing import split_front_matter
    from claude_pm.agents.simple_yaml import read_simple_mapping

    for path in SHIPPED_DIR.glob("*.md"):
        split = split_front_matter(path.read_text("utf-8"))
        assert split is not None and read_simple_mapping(split[0]) is not None, path
