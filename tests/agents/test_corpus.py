"""404 real Claude Code subagent files: each one loads, or is reported with a reason.

The corpus lives beside the repository (``../shared/agent-corpus``) and is read
in place, never copied.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from claude_pm.agents.definition import Tier
from claude_pm.agents.parsing import ParseOutcome, parse_agent_file
from claude_pm.agents.registry import SHIPPED_DIR, AgentRegistry

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "agent-corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="the agent corpus is not present")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.md") if p.name != "README.md")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, ParseOutcome]:
    return {
        p.relative_to(CORPUS).as_posix(): parse_agent_file(p, Tier.PROJECT) for p in corpus_files()
    }


def test_every_file_is_loaded_or_reported_never_both(outcomes):
    assert len(outcomes) == 404
    for name, outcome in outcomes.items():
        loaded = outcome.definition is not None
        assert loaded != bool(outcome.errors), name
        for problem in outcome.errors:
            assert problem.message and problem.path == CORPUS / name
    loaded = sum(o.definition is not None for o in outcomes.values())
    # Most public definitions are valid; the rest have the defects listed below.
    assert loaded >= 350


def test_rejections_fall_into_known_categories(outcomes):
    categories: collections.Counter[str] = collections.Counter()
    for outcome in outcomes.values():
        if outcome.errors:
            first = outcome.errors[0]
            categories[first.field or first.message.split(" (")[0].split(":")[0]] += 1
    assert set(categories) <= {
        "the front matter is not valid YAML",
        "the file has no YAML front matter",
        "the front matter is never closed by a '---' line",
        "no front matter on line 1",
        "the file is not UTF-8 text",
        "name",
    }, categories


@pytest.mark.parametrize(
    ("relative", "field", "line", "fragment"),
    [
        ("0xfurai-claude-code-subagents/agents/sqs-expert.md", None, 2, "must start the file"),
        (
            "vijaythecoder-awesome-claude-agents/agents/specialized/rails/rails-backend-expert.md",
            None,
            3,
            "quote the value of 'description'",
        ),
        (
            "vijaythecoder-awesome-claude-agents/agents/specialized/python/security-expert.md",
            "name",
            2,
            "'Python Security Expert' is not a valid agent name",
        ),
        (
            "voltagent-awesome-claude-code-subagents/categories/02-language-specialists/"
            "dotnet-framework-4.8-expert.md",
            "name",
            2,
            "not a valid agent name",
        ),
        (
            "voltagent-awesome-claude-code-subagents/history-ce913f749a94/categories/"
            "07-specialized-domains/embedded-systems.md",
            None,
            22,
            "not UTF-8",
        ),
        (
            "vanzan01-claude-code-sub-agent-collective/templates/agents/routing-agent.md",
            None,
            1,
            "no YAML front matter",
        ),
        (
            "wshobson-agents/history-87b81e9d642d/plugins/meigen-ai-design/agents/"
            "image-generator.md",
            "name",
            1,
            "required field 'name'",
        ),
        (
            "vijaythecoder-awesome-claude-agents/agents/universal/frontend-developer.md",
            None,
            1,
            "never closed",
        ),
    ],
)
def test_known_bad_files_are_reported_precisely(outcomes, relative, field, line, fragment):
    outcome = outcomes[relative]
    assert outcome.definition is None
    problem = outcome.errors[0]
    assert (problem.field, problem.line) == (field, line), problem
    assert fragment in problem.message


def test_known_good_files_load_with_their_fields(outcomes):
    kafka = outcomes["0xfurai-claude-code-subagents/agents/kafka-expert.md"].definition
    assert kafka is not None and kafka.name == "kafka-expert"
    assert kafka.model == "claude-sonnet-4-20250514" and kafka.tools is None
    assert kafka.system_prompt.startswith("## Focus Areas")

    crlf = outcomes[
        "wshobson-agents/history-27a7ed95755a/plugins/cicd-automation/agents/deployment-engineer.md"
    ].definition
    assert crlf is not None and "\r" not in crlf.system_prompt + crlf.description

    with_tools = [o.definition for o in outcomes.values() if o.definition and o.definition.tools]
    assert len(with_tools) > 100
    colored = [o for o in outcomes.values() if o.definition and "color" in o.definition.claude_code]
    assert len(colored) >= 30
    categorised = [o for o in outcomes.values() if o.definition and o.warnings]
    assert all(w.field for o in categorised for w in o.warnings)


def test_a_registry_over_the_corpus_accounts_for_every_file():
    registry = AgentRegistry(CORPUS, None)
    files = set(corpus_files())
    assert set(registry.files()) == files | set(SHIPPED_DIR.glob("*.md"))
    winners = {d.source_path for d in registry.agents()}
    shadowed = {p for d in registry.agents() for p in d.shadows}
    rejected = {p.path for p in registry.problems()}
    assert not winners & rejected and not shadowed & rejected and not winners & shadowed
    assert winners | shadowed | rejected == files | set(SHIPPED_DIR.glob("*.md"))
    # The corpus's own data-engineer (project tier) overrides the shipped one, and says so.
    data_engineer = registry.get("data-engineer")
    assert data_engineer.tier is Tier.PROJECT
    assert data_engineer.shadows == (SHIPPED_DIR / "data-engineer.md",)


def test_the_fast_reader_agrees_with_pyyaml_on_every_corpus_file():
    import yaml

    from claude_pm.agents.parsing import split_front_matter
    from claude_pm.agents.simple_yaml import read_simple_mapping

    fast = 0
    for path in corpus_files():
        try:
            text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            continue
        split = split_front_matter(text)
        mapping = read_simple_mapping(split[0]) if split else None
        if mapping is not None:
            fast += 1
            assert mapping == yaml.safe_load(split[0]), path
    assert fast > 300  # most real front matter is plain
