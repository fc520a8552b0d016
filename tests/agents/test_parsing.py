"""Parsing and validating one agent definition file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_pm.agents.definition import AgentDefinition, Tier
from claude_pm.agents.fields import render_definition
from claude_pm.agents.parsing import Severity, parse_agent_file, parse_agent_text

PATH = Path("agents/example.md")


def parse(text: str | bytes):
    return parse_agent_text(text, PATH, Tier.PROJECT)


def front(*lines: str, body: str = "You review code.") -> str:
    return "---\n" + "\n".join(lines) + "\n---\n" + body + "\n"


GOOD = ("name: reviewer", "description: Reviews code")


def test_minimal_definition_loads_with_its_body_as_system_prompt():
    outcome = parse(front(*GOOD, body="You review code.\n\nBe brief."))
    d = outcome.definition
    assert d is not None and outcome.problems == ()
    assert (d.name, d.description, d.agent_type) == ("reviewer", "Reviews code", "reviewer")
    assert d.system_prompt == "You review code.\n\nBe brief."
    assert d.tools is None and d.model is None and d.backend is None
    assert d.tier is Tier.PROJECT and d.source_path == PATH


def test_every_field_is_read():
    outcome = parse(
        front(
            "name: data_engineer",
            "description: Builds pipelines",
            "tools: Read, Grep, Agent(worker, researcher)",
            "model: sonnet",
            "specializations: data, ETL",
            "context_keys: [data_config, file_paths]",
            "timeout: 90",
            "memory_limit: 512.5",
            "env: [AWS_*, DATABASE_URL]",
            "backend: command",
            "backend_options:",
            "  command: ['{python}', '-m', 'tool', '{context_file}']",
            "  stdin: none",
            'version: "2.1"',
            "custom: true",
            "permissionMode: plan",
            "maxTurns: 12",
            "isolation: worktree",
            "memory: project",
            "background: false",
            "hooks: {Stop: []}",
            "mcpServers: [github]",
            "skills: [lint]",
            "disallowedTools: Write",
            "color: teal",
        )
    )
    assert outcome.problems == ()
    d = outcome.definition
    assert d is not None
    assert d.tools == ("Read", "Grep", "Agent(worker, researcher)")
    assert d.specializations == ("data", "ETL")
    assert d.context_keys == ("data_config", "file_paths")
    assert (d.timeout_s, d.memory_limit_mb) == (90.0, 512.5)
    assert d.env == ("AWS_*", "DATABASE_URL")
    assert d.backend == "command"
    assert d.backend_options == {
        "command": ["{python}", "-m", "tool", "{context_file}"],
        "stdin": "none",
    }
    assert d.version == "2.1" and d.marked_custom and d.custom
    assert d.claude_code == {
        "permissionMode": "plan",
        "maxTurns": 12,
        "isolation": "worktree",
        "memory": "project",
        "background": False,
        "hooks": {"Stop": []},
        "mcpServers": ["github"],
        "skills": ["lint"],
        "disallowedTools": "Write",
        "color": "teal",
    }
    assert d.visible_context_keys()[:2] == ("data_config", "file_paths")


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ("tools: Read, Grep", ("Read", "Grep")),
        ("tools: [Read, Bash]", ("Read", "Bash")),
        ("tools: []", ()),
        ("tools:", None),
        ("tools: Read, Read", ("Read",)),
    ],
)
def test_tools_forms(tools, expected):
    d = parse(front(*GOOD, tools)).definition
    assert d is not None and d.tools == expected


def test_crlf_bom_and_odd_closing_line_are_accepted():
    text = "\ufeff---\r\nname: reviewer\r\ndescription: Reviews\r\n---  \r\nLine one\r\nTwo\r\n"
    d = parse(text.encode("utf-8")).definition
    assert d is not None and d.system_prompt == "Line one\nTwo"


def test_empty_body_is_allowed():
    d = parse("---\nname: a\ndescription: b\n---\n").definition
    assert d is not None and d.system_prompt == ""


def test_unknown_fields_are_kept_with_a_warning():
    outcome = parse(front(*GOOD, "category: quality", "tags: [x]"))
    assert outcome.definition is not None
    assert outcome.definition.claude_code == {"category": "quality", "tags": ["x"]}
    fields = {(w.field, w.line) for w in outcome.warnings}
    assert fields == {("category", 4), ("tags", 5)}
    assert all(w.severity is Severity.WARNING for w in outcome.problems)


def test_number_version_and_unknown_effort_only_warn():
    outcome = parse(front(*GOOD, "version: 1.0", "effort: 3"))
    assert outcome.definition is not None and outcome.definition.version == "1.0"
    assert {w.field for w in outcome.warnings} == {"version", "effort"}


BAD_CASES = [
    # id, text, field, line, fragment of the message
    ("no front matter", "# Title\n\nprompt\n", None, 1, "no YAML front matter"),
    ("never closed", "---\nname: a\ndescription: b\n", None, 1, "never closed"),
    ("indented", "\n  ---\n  name: a\n  ---\n", None, 2, "must start the file"),
    ("yaml colon", front("name: a", "description: Use it: now"), None, 3, "quote the value"),
    ("yaml syntax", front("name: [a", "description: b"), None, 3, "not valid YAML"),
    ("not a mapping", front("- a", "- b"), None, 2, "mapping of fields"),
    ("missing name", front("description: b"), "name", 1, "required field 'name'"),
    ("empty name", front("name:", "description: b"), "name", 1, "required field 'name'"),
    ("missing description", front("name: a"), "description", 1, "'description' is missing"),
    ("capitals", front("description: b", "name: Python Expert"), "name", 3, "not a valid"),
    ("dot in name", front("name: net-4.8", "description: b"), "name", 2, "not a valid"),
    ("name not text", front("name: 12", "description: b"), "name", 2, "not a valid"),
    ("description list", front("name: a", "description: [x]"), "description", 3, "string"),
    ("zero timeout", front(*GOOD, "timeout: 0"), "timeout", 4, "greater than 0"),
    ("text timeout", front(*GOOD, "timeout: soon"), "timeout", 4, "number of seconds"),
    ("bool timeout", front(*GOOD, "timeout: true"), "timeout", 4, "number of seconds"),
    ("negative memory", front(*GOOD, "memory_limit: -5"), "memory_limit", 4, "megabytes"),
    ("backend", front(*GOOD, "backend: docker"), "backend", 4, "one of command"),
    ("no command", front(*GOOD, "backend: command"), "backend_options", 4, "command:"),
    (
        "placeholder",
        front(*GOOD, "backend: command", "backend_options: {command: [x, '{home}']}"),
        "backend_options",
        5,
        "unknown placeholder {home}",
    ),
    (
        "stdin",
        front(*GOOD, "backend: command", "backend_options: {command: [x], stdin: file}"),
        "backend_options",
        5,
        "stdin must be one of task, none",
    ),
    (
        "cwd",
        front(*GOOD, "backend: command", "backend_options: {command: [x], cwd: home}"),
        "backend_options",
        5,
        "cwd must be one of project, run",
    ),
    ("options list", front(*GOOD, "backend_options: [a]"), "backend_options", 4, "mapping"),
    ("env assignment", front(*GOOD, "env: [A=B]"), "env", 4, "not a variable name"),
    ("tools number", front(*GOOD, "tools: 3"), "tools", 4, "comma-separated"),
    ("specializations", front(*GOOD, "specializations: {a: 1}"), "specializations", 4, "list"),
    ("permission", front(*GOOD, "permissionMode: yolo"), "permissionMode", 4, "acceptEdits"),
    ("max turns", front(*GOOD, "maxTurns: 0"), "maxTurns", 4, "positive integer"),
    ("max turns text", front(*GOOD, "maxTurns: '3'"), "maxTurns", 4, "positive integer"),
    ("isolation", front(*GOOD, "isolation: container"), "isolation", 4, "worktree"),
    ("memory scope", front(*GOOD, "memory: global"), "memory", 4, "user, project, local"),
    ("background", front(*GOOD, "background: maybe"), "background", 4, "true or false"),
    ("hooks", front(*GOOD, "hooks: [a]"), "hooks", 4, "mapping"),
    ("custom", front(*GOOD, "custom: sometimes"), "custom", 4, "true or false"),
]


@pytest.mark.parametrize(
    ("text", "field", "line", "fragment"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_definitions_are_reported_with_field_and_line(text, field, line, fragment):
    outcome = parse(text)
    assert outcome.definition is None
    errors = outcome.errors
    assert errors, outcome
    first = errors[0]
    assert (first.field, first.line) == (field, line), first
    assert fragment in first.message + " " + (first.expected or ""), first
    assert first.path == PATH
    as_dict = first.to_dict()
    assert set(as_dict) == {"path", "line", "field", "expected", "message", "severity"}
    assert as_dict["severity"] == "error"


def test_every_error_in_a_file_is_reported_at_once():
    outcome = parse(front("name: Bad Name", "description: d", "timeout: -1", "maxTurns: x"))
    assert {p.field for p in outcome.errors} == {"name", "timeout", "maxTurns"}


def test_non_utf8_bytes_are_reported_with_their_line():
    data = b"---\nname: a\ndescription: b\n---\nline\n10\xbcs latency\n"
    outcome = parse(data)
    assert outcome.definition is None
    (problem,) = outcome.errors
    assert problem.line == 6 and "UTF-8" in problem.message and "0xbc" in problem.message


def test_unreadable_or_missing_file_is_a_problem(tmp_path):
    outcome = parse_agent_file(tmp_path / "gone.md")
    assert outcome.definition is None
    assert "cannot read" in outcome.errors[0].message


def test_problem_describe_reads_like_a_compiler_message():
    (problem,) = parse(front(*GOOD, "timeout: 0")).errors
    assert problem.describe().startswith(f"{PATH}:4: timeout: must be")


names = st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,8}){0,2}", fullmatch=True)
words = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=12,
)
sentences = st.lists(words, min_size=1, max_size=8).map(" ".join)
prompts = st.lists(sentences, max_size=6).map(lambda lines: "\n".join(lines).strip())


@st.composite
def definitions(draw: st.DrawFn) -> AgentDefinition:
    backend = draw(st.sampled_from([None, "builtin", "claude-code", "command"]))
    options = {"command": ["{python}", "-c", "pass"], "stdin": "task"}
    # The builtin backend runs only the core agents: a pinned builtin agent is one of them.
    name = draw(
        st.sampled_from(["qa", "security", "data-engineer"]) if backend == "builtin" else names
    )
    return AgentDefinition(
        name=name,
        description=draw(sentences),
        system_prompt=draw(prompts),
        tools=draw(
            st.none() | st.lists(st.sampled_from(["Read", "Grep", "Bash"]), unique=True).map(tuple)
        ),
        model=draw(st.sampled_from([None, "sonnet", "opus", "claude-sonnet-4-20250514"])),
        specializations=tuple(draw(st.lists(names, unique=True, max_size=4))),
        context_keys=tuple(draw(st.lists(st.sampled_from(["a_b", "file_paths"]), unique=True))),
        timeout_s=draw(st.none() | st.floats(0.5, 86_400)),
        memory_limit_mb=draw(st.none() | st.integers(1, 10**6).map(float)),
        env=tuple(draw(st.lists(st.sampled_from(["HOME", "AWS_*", "X1"]), unique=True))),
        backend=backend,
        backend_options=options if backend == "command" else {},
        version=draw(st.none() | st.sampled_from(["1.0", "2.3.4"])),
        claude_code=draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "permissionMode": st.sampled_from(["default", "plan"]),
                    "maxTurns": st.integers(1, 50),
                    "color": st.sampled_from(["red", "blue"]),
                    "hooks": st.just({"Stop": [{"hooks": []}]}),
                },
            )
        ),
        marked_custom=draw(st.booleans()),
        tier=Tier.PROJECT,
        source_path=PATH,
    )


@settings(max_examples=150, deadline=None)
@given(definitions())
def test_render_then_parse_gives_the_same_definition(definition):
    text = render_definition(definition)
    outcome = parse(text)
    assert outcome.problems == (), text
    assert outcome.definition == definition


@settings(max_examples=50, deadline=None)
@given(definitions())
def test_claude_code_only_rendering_drops_claude_pm_fields(definition):
    outcome = parse(render_definition(definition, claude_pm_fields=False))
    assert outcome.definition is not None
    expected = replace(
        definition,
        specializations=(),
        context_keys=(),
        timeout_s=None,
        memory_limit_mb=None,
        env=(),
        backend=None,
        backend_options={},
        version=None,
        marked_custom=False,
    )
    assert outcome.definition == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: "---\n" + t))
def test_parsing_never_raises(data):
    outcome = parse(data)
    assert (outcome.definition is None) == bool(outcome.errors)


keys = st.sampled_from(["name", "description", "tools", "on", "No", "x-y", "a_b", "Key1"])
pieces = st.sampled_from(
    [
        "word",
        "two words",
        "yes",
        "No",
        "null",
        "~",
        "true",
        "12",
        "012",
        "0x1F",
        "1_000",
        "1.5",
        "-3",
        "+4",
        ".inf",
        "2024-01-01",
        "a: b",
        "a:b",
        "a #c",
        "a#c",
        "'q'",
        '"q"',
        '"a\\"b"',
        "'it''s'",
        "it's",
        "[a, b]",
        "[]",
        "[ ]",
        "[a,]",
        "[yes, b]",
        "[a, 'b']",
        "{a: 1}",
        "|",
        ">-",
        "&anchor",
        "*alias",
        "!tag x",
        "%x",
        "@x",
        "`x`",
        "a, b, c",
        "Read, Agent(a, b)",
        "x  y",
        "é",
        "a\tb",
        "- a",
        "? a",
        "a ",
        "",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(keys, pieces, st.sampled_from(["", " ", "  "])), max_size=5))
def test_the_fast_front_matter_reader_agrees_with_pyyaml(lines):
    import yaml

    from claude_pm.agents.simple_yaml import read_simple_mapping

    text = "\n".join(f"{k}:{sep}{v}" if sep or not v else f"{k}: {v}" for k, v, sep in lines)
    fast = read_simple_mapping(text)
    if fast is None:
        return
    assert fast == yaml.safe_load(text), text


def test_values_that_are_not_json_are_dropped_with_a_warning():
    outcome = parse(front(*GOOD, "released: 2024-01-01", "on: x", "color: red"))
    assert outcome.definition is not None
    assert outcome.definition.claude_code == {"color": "red"}
    assert {w.field for w in outcome.warnings} == {"released", "True"}


def test_an_alias_inside_what_it_names_is_refused():
    """A loop expands without end: refused like any alias past the budget, with its line."""
    outcome = parse(front(*GOOD, "color: red", "loop: &x [*x]"))
    assert outcome.definition is None
    (error,) = outcome.errors
    assert (error.line, error.field) == (5, "loop") and "loop" in error.message
