"""Checking a workflow before it runs: the reference input, defaults, every bad input and its "
"message."""

from __future__ import annotations

import datetime
import pickle
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_pm.agents.backends import BACKENDS, unavailable_reason
from claude_pm.errors import InvalidInput, WorkflowInvalid
from claude_pm.tools.schemas import COORDINATE_MULTI_AGENT_WORKFLOW, EXECUTE_AGENT_SUBPROCESS
from claude_pm.tools.validation import validate_arguments
from claude_pm.workflow import spec as wf
from claude_pm.workflow.parse import parse_workflow
from claude_pm.workflow.spec import CoordinationMode, FailurePolicy, Isolation, WorkflowSpec

#: The reference design's example, exactly as a model sends it: no ids, priorities, hybrid.
REFERENCE = {
    "workflow_description": "Complete feature development cycle",
    "agent_tasks": [
        {"agent_type": "engineer", "task": "Implement user authentication", "priority": 1},
        {"agent_type": "qa", "task": "Create comprehensive tests", "priority": 2},
        {"agent_type": "documentation", "task": "Update API docs", "priority": 3},
    ],
    "coordination_mode": "hybrid",
}


def T(agent: str = "qa", task: str = "check it", **fields: Any) -> dict[str, Any]:
    return {"agent_type": agent, "task": task, **fields}


def W(*tasks: Any, **fields: Any) -> dict[str, Any]:
    return {"workflow_description": "w", "agent_tasks": list(tasks), **fields}


def registry(agent_type: str) -> str | None:
    if agent_type == "wizard":
        return "unknown agent type 'wizard'; run discover_available_agents to see the agents"
    return None


def test_the_reference_example_parses_unchanged() -> None:
    spec = parse_workflow(REFERENCE, cpu_count=4)
    assert spec.description == "Complete feature development cycle"
    assert spec.coordination_mode is CoordinationMode.HYBRID
    assert spec.failure_policy is FailurePolicy.CONTINUE
    assert spec.max_concurrency == 4
    assert spec.max_concurrency_requested is None
    assert [(t.id, t.agent_type, t.priority, t.dependencies) for t in spec.tasks] == [
        ("task-0", "engineer", 1, ()),
        ("task-1", "qa", 2, ()),
        ("task-2", "documentation", 3, ()),
    ]
    assert spec.task("task-1").task_description == "Create comprehensive tests"
    assert all(t.writes is None and t.retries == 0 and t.timeout_s is None for t in spec.tasks)


def test_the_reference_example_passes_the_tool_schema() -> None:
    assert validate_arguments("coordinate_multi_agent_workflow", REFERENCE) == REFERENCE


def test_every_optional_field_is_read() -> None:
    spec = parse_workflow(
        W(
            T(id="build", agent="engineer", writes=["./src//", "src", "docs/*.md"], retries=2),
            T(
                id="test",
                dependencies=["build"],
                context={"file_paths": ["tests"]},
                timeout=60,
                memory_limit=512,
                backend="command",
                writes=[],
                isolation="worktree",
            ),
            coordination_mode="sequential",
            max_concurrency=3,
            failure_policy="stop",
            budget_usd=2,
        )
    )
    build, test = spec.tasks
    assert build.writes == ("src", "docs/*.md")  # normalized, without repeats
    assert build.retries == 2
    assert (test.dependencies, test.timeout_s, test.memory_limit_mb) == (("build",), 60, 512)
    assert (test.backend, test.writes, test.isolation) == ("command", (), Isolation.WORKTREE)
    assert test.context == {"file_paths": ["tests"]}
    assert (spec.coordination_mode, spec.failure_policy) == ("sequential", "stop")
    assert (spec.max_concurrency, spec.budget_usd) == (3, 2.0)


def test_a_dependency_may_name_the_agent_type_one_task_has() -> None:
    spec = parse_workflow(
        W(
            T(agent="engineer"),
            T(agent="data_engineer"),
            T(dependencies=["engineer", "data-engineer"]),
        )
    )
    assert spec.tasks[2].dependencies == ("task-0", "task-1")


def test_a_task_id_wins_over_an_agent_type() -> None:
    # "qa" is the id of the engineer task and the agent type of the last task.
    spec = parse_workflow(
        W(
            T(id="qa", agent="engineer"),
            T(agent="qa", id="tests"),
            T(agent="ops", dependencies=["qa"]),
        )
    )
    assert spec.tasks[2].dependencies == ("qa",)


def test_repeated_dependencies_count_once() -> None:
    spec = parse_workflow(W(T(agent="engineer", id="e"), T(dependencies=["e", "engineer", "e"])))
    assert spec.tasks[1].dependencies == ("e",)


def test_json_integers_written_as_floats_are_integers() -> None:
    spec = parse_workflow(W(T(timeout=30.0, priority=2.0)))
    assert (spec.tasks[0].timeout_s, spec.tasks[0].priority) == (30, 2)
    assert isinstance(spec.tasks[0].timeout_s, int)


def test_the_default_bound_is_the_cpu_count_capped() -> None:
    assert parse_workflow(W(T()), cpu_count=2).max_concurrency == 2
    assert parse_workflow(W(T()), cpu_count=100_000).max_concurrency == 1024
    assert parse_workflow(W(T())).max_concurrency >= 1
    assert parse_workflow(W(T(), max_concurrency=7), cpu_count=2).max_concurrency == 7


WORKFLOW_FILE = """\
workflow_description: Release 1.2
coordination_mode: hybrid
failure_policy: stop
max_concurrency: 2
agent_tasks:
  - id: lint
    agent_type: qa
    task: Run the linters
    writes: []
  - id: "no"        # quoted: a bare no would be a boolean
    agent_type: engineer
    task: Fix what the linters found
    dependencies: [lint]
    writes: [src/**]
    retries: 1
  - agent_type: documentation
    task: Write the release notes
    dependencies: [engineer]
    context:
      user_requirements: mention the new flag
"""


def test_a_yaml_workflow_file_parses_with_the_same_keys() -> None:
    spec = parse_workflow(yaml.safe_load(WORKFLOW_FILE), cpu_count=8)
    assert spec.task_ids == ("lint", "no", "task-2")
    assert spec.task("task-2").dependencies == ("no",)
    assert spec.task("no").writes == ("src/**",)
    assert spec.failure_policy is FailurePolicy.STOP
    assert spec.max_concurrency == 2


def test_yaml_surprises_get_a_message_that_says_to_quote() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(yaml.safe_load(WORKFLOW_FILE.replace('"no"', "no")))
    assert caught.value.problems[0] == (
        "agent_tasks[1]: id must be a string (quote it in YAML), got a boolean False"
    )


BAD = [
    (
        "not a mapping",
        ["qa"],
        "(workflow)",
        "Invalid workflow: the workflow must be a mapping with workflow_description and "
        "agent_tasks, got a list.",
    ),
    (
        "no description",
        {"agent_tasks": [T()]},
        "workflow_description",
        "Invalid workflow: workflow_description is required (what the workflow is for).",
    ),
    (
        "blank description",
        W(T(), workflow_description="  "),
        "workflow_description",
        "Invalid workflow: workflow_description is empty; say what the workflow is for.",
    ),
    (
        "unknown workflow field",
        W(T(), coordination="hybrid"),
        "coordination",
        "Invalid workflow: unknown field 'coordination' (did you mean 'coordination_mode'?); "
        "allowed fields are: workflow_description, agent_tasks, coordination_mode, "
        "max_concurrency, failure_policy, budget_usd.",
    ),
    (
        "no tasks",
        {"workflow_description": "w"},
        "agent_tasks",
        "Invalid workflow: agent_tasks is required (the list of tasks to run).",
    ),
    (
        "empty task list",
        W(),
        "agent_tasks",
        "Invalid workflow: agent_tasks is empty; give at least one task.",
    ),
    (
        "tasks not a list",
        {"workflow_description": "w", "agent_tasks": {"a": T()}},
        "agent_tasks",
        "Invalid workflow: agent_tasks must be a list of tasks, got a mapping.",
    ),
    (
        "too many tasks",
        W(*[T() for _ in range(1001)]),
        "agent_tasks",
        "Invalid workflow: agent_tasks has 1001 tasks; a workflow may have at most 1000.",
    ),
    (
        "unknown mode",
        W(T(), coordination_mode="graph"),
        "coordination_mode",
        "Invalid workflow: coordination_mode must be one of 'sequential', 'parallel', 'hybrid', "
        "got 'graph'.",
    ),
    (
        "unknown failure policy",
        W(T(), failure_policy="abort"),
        "failure_policy",
        "Invalid workflow: failure_policy must be one of 'continue', 'stop', got 'abort'.",
    ),
    (
        "no concurrency",
        W(T(), max_concurrency=0),
        "max_concurrency",
        "Invalid workflow: max_concurrency must be an integer from 1 to 1024 (tasks at once), got "
        "0.",
    ),
    (
        "too much concurrency",
        W(T(), max_concurrency=5000),
        "max_concurrency",
        "Invalid workflow: max_concurrency must be an integer from 1 to 1024 (tasks at once), got "
        "5000.",
    ),
    (
        "zero budget",
        W(T(), budget_usd=0),
        "budget_usd",
        "Invalid workflow: budget_usd must be a number above 0 and at most 100000 (US dollars), "
        "got 0.",
    ),
    (
        "boolean budget",
        W(T(), budget_usd=True),
        "budget_usd",
        "Invalid workflow: budget_usd must be a number above 0 and at most 100000 (US dollars), "
        "got True.",
    ),
    (
        "infinite budget",
        W(T(), budget_usd=float("inf")),
        "budget_usd",
        "Invalid workflow: budget_usd must be a number above 0 and at most 100000 (US dollars), "
        "got inf.",
    ),
    (
        "task not a mapping",
        W("run the tests"),
        "agent_tasks[0]",
        "Invalid workflow: agent_tasks[0]: each task must be a mapping with agent_type and task, "
        "got a string.",
    ),
    (
        "task without agent",
        W({"task": "t"}),
        "agent_tasks[0].agent_type",
        "Invalid workflow: agent_tasks[0]: agent_type is required (the agent to run, such as "
        "'qa').",
    ),
    (
        "agent name with a newline",
        W(T(agent="qa\n")),
        "agent_tasks[0].agent_type",
        "Invalid workflow: agent_tasks[0]: agent_type 'qa\\n' is not a valid agent type: use up "
        "to 64 letters, digits, '_' or '-', starting with a letter or digit.",
    ),
    (
        "empty task text",
        W(T(task="")),
        "agent_tasks[0].task",
        "Invalid workflow: agent_tasks[0]: task is empty; say what the agent should do.",
    ),
    (
        "task text not a string",
        W(T(task=["a"])),
        "agent_tasks[0].task",
        "Invalid workflow: agent_tasks[0]: task must be a string (what the agent should do), got "
        "a list.",
    ),
    (
        "typo in a task field",
        W(T(dependecies=["x"])),
        "agent_tasks[0].dependecies",
        "Invalid workflow: agent_tasks[0]: unknown field 'dependecies' (did you mean "
        "'dependencies'?); allowed fields are: id, agent_type, task, dependencies, priority, "
        "context, timeout, memory_limit, retries, backend, writes, isolation.",
    ),
    (
        "id with a space",
        W(T(id="my task")),
        "agent_tasks[0].id",
        "Invalid workflow: agent_tasks[0]: id 'my task' is not a valid task id: use up to 64 "
        "letters, digits, '_' or '-', starting with a letter or digit.",
    ),
    (
        "id read as a YAML boolean",
        W(T(id=False)),
        "agent_tasks[0].id",
        "Invalid workflow: agent_tasks[0]: id must be a string (quote it in YAML), got a boolean "
        "False.",
    ),
    (
        "duplicate ids",
        W(T(id="a"), T(id="a")),
        "agent_tasks[1].id",
        "Invalid workflow: task 'a' (agent_tasks[1]): id 'a' is already used by agent_tasks[0]; "
        "give each task its own id.",
    ),
    (
        "id equal to another task's default",
        W(T(id="task-1"), T()),
        "agent_tasks[1].id",
        "Invalid workflow: agent_tasks[1] has no id, and its default id 'task-1' is already used "
        "by agent_tasks[0]; give one of them another id.",
    ),
    (
        "unknown dependency",
        W(T(id="a"), T(id="b", dependencies=["c"])),
        "agent_tasks[1].dependencies",
        "Invalid workflow: task 'b' (agent_tasks[1]): dependency 'c' is neither a task id nor the "
        "agent_type of a task in this workflow; task ids are: a, b.",
    ),
    (
        "ambiguous agent-type dependency",
        W(T(), T(), T(agent="engineer", dependencies=["qa"])),
        "agent_tasks[2].dependencies",
        "Invalid workflow: agent_tasks[2]: dependency 'qa' is the agent_type of 2 tasks (task-0, "
        "task-1); name the one you mean by its id.",
    ),
    (
        "self-dependency",
        W(T(id="a", dependencies=["a"])),
        "agent_tasks[0].dependencies",
        "Invalid workflow: task 'a' (agent_tasks[0]): depends on itself; remove 'a' from its "
        "dependencies.",
    ),
    (
        "self-dependency through its agent type",
        W(T(agent="ops", dependencies=["ops"])),
        "agent_tasks[0].dependencies",
        "Invalid workflow: agent_tasks[0]: depends on itself (through its agent_type 'ops'); "
        "remove 'ops' from its dependencies.",
    ),
    (
        "two-task cycle",
        W(T(id="a", dependencies=["b"]), T(id="b", dependencies=["a"])),
        "agent_tasks[0].dependencies",
        "Invalid workflow: dependency cycle a -> b -> a (each task depends on the next); remove "
        "one of these dependencies.",
    ),
    (
        "three-task cycle",
        W(
            T(id="a", dependencies=["c"]),
            T(id="b", dependencies=["a"]),
            T(id="c", dependencies=["b"]),
        ),
        "agent_tasks[0].dependencies",
        "Invalid workflow: dependency cycle a -> c -> b -> a (each task depends on the next); "
        "remove one of these dependencies.",
    ),
    (
        "dependencies as a string",
        W(T(id="a"), T(dependencies="a")),
        "agent_tasks[1].dependencies",
        "Invalid workflow: agent_tasks[1]: dependencies must be a list of task ids, got a string "
        "'a'.",
    ),
    (
        "dependency not a string",
        W(T(id="a"), T(dependencies=[1])),
        "agent_tasks[1].dependencies[0]",
        "Invalid workflow: agent_tasks[1]: dependencies[0] must be a task id (a string), got 1.",
    ),
    (
        "zero timeout",
        W(T(timeout=0)),
        "agent_tasks[0].timeout",
        "Invalid workflow: agent_tasks[0]: timeout must be an integer from 1 to 86400 (seconds), "
        "got 0.",
    ),
    (
        "fractional timeout",
        W(T(timeout=1.5)),
        "agent_tasks[0].timeout",
        "Invalid workflow: agent_tasks[0]: timeout must be an integer from 1 to 86400 (seconds), "
        "got 1.5.",
    ),
    (
        "timeout as text",
        W(T(timeout="30")),
        "agent_tasks[0].timeout",
        "Invalid workflow: agent_tasks[0]: timeout must be an integer from 1 to 86400 (seconds), "
        "got '30'.",
    ),
    (
        "tiny memory limit",
        W(T(memory_limit=8)),
        "agent_tasks[0].memory_limit",
        "Invalid workflow: agent_tasks[0]: memory_limit must be an integer from 16 to 1048576 "
        "(MB), got 8.",
    ),
    (
        "too many retries",
        W(T(retries=11)),
        "agent_tasks[0].retries",
        "Invalid workflow: agent_tasks[0]: retries must be an integer from 0 to 10, got 11.",
    ),
    (
        "negative retries",
        W(T(retries=-1)),
        "agent_tasks[0].retries",
        "Invalid workflow: agent_tasks[0]: retries must be an integer from 0 to 10, got -1.",
    ),
    (
        "priority as text",
        W(T(priority="high")),
        "agent_tasks[0].priority",
        "Invalid workflow: agent_tasks[0]: priority must be an integer (lower starts first), got "
        "'high'.",
    ),
    (
        "unknown backend",
        W(T(backend="docker")),
        "agent_tasks[0].backend",
        "Invalid workflow: agent_tasks[0]: backend must be one of 'command', 'builtin', "
        "'claude-code', 'anthropic', 'openai', got 'docker'.",
    ),
    (
        "unknown isolation",
        W(T(isolation="container")),
        "agent_tasks[0].isolation",
        "Invalid workflow: agent_tasks[0]: isolation must be one of 'worktree', got 'container'.",
    ),
    (
        "absolute write glob",
        W(T(writes=["/etc/*"])),
        "agent_tasks[0].writes[0]",
        "Invalid workflow: agent_tasks[0]: writes[0] '/etc/*' is absolute; write it relative to "
        "project_root (for example 'src/**').",
    ),
    (
        "write glob escaping the project",
        W(T(writes=["src/../../x"])),
        "agent_tasks[0].writes[0]",
        "Invalid workflow: agent_tasks[0]: writes[0] 'src/../../x' uses '..'; globs must stay "
        "inside project_root.",
    ),
    (
        "write glob under home",
        W(T(writes=["~/notes"])),
        "agent_tasks[0].writes[0]",
        "Invalid workflow: agent_tasks[0]: writes[0] '~/notes' starts with '~'; globs are "
        "relative to project_root and '~' is not expanded.",
    ),
    (
        "empty write glob",
        W(T(writes=[""])),
        "agent_tasks[0].writes[0]",
        "Invalid workflow: agent_tasks[0]: writes[0] '' is empty; name a path or glob relative to "
        "project_root, such as 'src/**'.",
    ),
    (
        "writes as a string",
        W(T(writes="src/**")),
        "agent_tasks[0].writes",
        "Invalid workflow: agent_tasks[0]: writes must be a list of globs relative to "
        "project_root ([] for a read-only task), got a string 'src/**'.",
    ),
    (
        "context not a mapping",
        W(T(context=["a"])),
        "agent_tasks[0].context",
        "Invalid workflow: agent_tasks[0]: context must be a mapping, got a list.",
    ),
    (
        "context with a YAML date",
        W(T(context={"due": datetime.date(2026, 1, 2)})),
        "agent_tasks[0].context",
        "Invalid workflow: agent_tasks[0]: context must hold JSON values only (strings, numbers, "
        "booleans, null, lists, mappings with string keys; quote dates in YAML): Object of type "
        "date is not JSON serializable.",
    ),
    (
        "agent the registry does not know",
        W(T(agent="wizard")),
        "agent_tasks[0].agent_type",
        "Invalid workflow: agent_tasks[0]: unknown agent type 'wizard'; run "
        "discover_available_agents to see the agents.",
    ),
]


@pytest.mark.parametrize(
    ("workflow", "field", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_workflows_get_one_error_that_says_what_to_fix(
    workflow: Any, field: str, message: str
) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(workflow, check_agent=registry)
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.field == field
    assert caught.value.problems[0] == message.removeprefix("Invalid workflow: ").removesuffix(".")


def test_the_bad_table_has_at_least_twenty_distinct_cases() -> None:
    assert len(BAD) >= 20
    assert len({c[0] for c in BAD}) == len(BAD)
    assert len({c[3] for c in BAD}) == len(BAD)


def test_every_problem_is_listed_and_the_first_is_in_the_message() -> None:
    workflow = W(
        T(id="a", dependencies=["b"], timeout=0),
        T(id="b", dependencies=["a", "nope"], writes=["/abs"]),
        T(agent="wizard"),
        max_concurrency=0,
    )
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(workflow, check_agent=registry)
    error = caught.value
    assert error.problems == [
        "max_concurrency must be an integer from 1 to 1024 (tasks at once), got 0",
        "task 'a' (agent_tasks[0]): timeout must be an integer from 1 to 86400 (seconds), got 0",
        "task 'b' (agent_tasks[1]): writes[0] '/abs' is absolute; write it relative to "
        "project_root (for example 'src/**')",
        "agent_tasks[2]: unknown agent type 'wizard'; run discover_available_agents to see "
        "the agents",
        "task 'b' (agent_tasks[1]): dependency 'nope' is neither a task id nor the agent_type "
        "of a task in this workflow; task ids are: a, b, task-2",
        "dependency cycle a -> b -> a (each task depends on the next); remove one of these "
        "dependencies",
    ]
    assert error.message == f"Invalid workflow: {error.problems[0]} (and 5 more problems)."
    assert (error.field, error.task_id, error.cycle) == ("max_concurrency", None, ["a", "b", "a"])


def test_the_error_keeps_its_facts_through_pickling_and_as_a_dict() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(W(T(id="a", dependencies=["b"]), T(id="b", dependencies=["a"])))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is WorkflowInvalid
    assert (copy.message, copy.problems, copy.cycle, copy.task_id, copy.field) == (
        caught.value.message,
        caught.value.problems,
        ["a", "b", "a"],
        "a",
        "agent_tasks[0].dependencies",
    )
    details = copy.to_dict()
    assert details["type"] == "WorkflowInvalid"
    assert details["cycle"] == ["a", "b", "a"]
    assert details["problems"] == copy.problems


def test_the_agent_check_is_asked_once_per_agent_type() -> None:
    asked: list[str] = []

    def check(agent_type: str) -> str | None:
        asked.append(agent_type)
        return None

    parse_workflow(W(T(), T(), T(agent="ops"), T()), check_agent=check)
    assert asked == ["qa", "ops"]


def test_an_agent_that_cannot_run_is_a_problem_of_each_of_its_tasks() -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(W(T(agent="wizard"), T(), T(agent="wizard", id="w2")), check_agent=registry)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "agent_tasks[0]",
        "task 'w2' (agent_tasks[2])",
    ]


def test_a_backend_this_version_cannot_run_is_refused_with_the_registry_reason() -> None:
    planned = [n for n in BACKENDS if unavailable_reason(n) is not None]
    if not planned:
        pytest.skip("every backend runs in this version")
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(W(T(backend=planned[0])))
    assert caught.value.problems == [f"agent_tasks[0]: {unavailable_reason(planned[0])}"]
    assert caught.value.field == "agent_tasks[0].backend"


def test_the_error_is_not_an_input_error_of_the_tool_schema() -> None:
    # The handler reports both, but a caller may tell a bad graph from a malformed call.
    assert not issubclass(WorkflowInvalid, InvalidInput)


# -- the normalized form and its hash ----------------------------------------------------------


def test_inputs_that_mean_the_same_workflow_share_their_hash() -> None:
    terse = W(T(agent="engineer", writes=["./src/"]), T(dependencies=["engineer"]))
    explicit = W(
        T(id="task-0", agent="engineer", writes=["src"], retries=0, dependencies=[]),
        T(id="task-1", dependencies=["task-0"]),
        coordination_mode="hybrid",
        failure_policy="continue",
    )
    a, b = parse_workflow(terse, cpu_count=2), parse_workflow(explicit, cpu_count=16)
    assert a.input_hash == b.input_hash
    assert len(a.input_hash) == 64


def test_the_hash_changes_with_anything_that_changes_the_run() -> None:
    base = parse_workflow(W(T(), T(agent="ops"))).input_hash
    variants = [
        W(T(), T(agent="ops"), max_concurrency=1),
        W(T(), T(agent="ops", dependencies=["qa"])),
        W(T(priority=1), T(agent="ops")),
        W(T(timeout=5), T(agent="ops")),
        W(T(context={"priority": "high"}), T(agent="ops")),
        W(T(writes=[]), T(agent="ops")),
        W(T(task="other"), T(agent="ops")),
        W(T(agent="ops"), T()),
        W(T(), T(agent="ops"), budget_usd=1),
    ]
    hashes = [parse_workflow(v).input_hash for v in variants]
    assert base not in hashes
    assert len(set(hashes)) == len(hashes)


def test_the_hash_is_stable_across_versions_of_the_code() -> None:
    # The journal stores it: a change here must bump spec.HASH_FORMAT on purpose.
    assert parse_workflow(REFERENCE).input_hash == (
        "e4f369c406db661ce8de6a5073978976d77224099d989343664deb242648177b"
    )


_ids = st.sampled_from(["a", "b", "c", "d", "e"])
_task = st.fixed_dictionaries(
    {
        "agent_type": st.sampled_from(["qa", "engineer", "ops"]),
        "task": st.text(min_size=1).filter(str.strip),
    },
    optional={
        "priority": st.integers(-5, 5),
        "timeout": st.integers(1, 86400),
        "retries": st.integers(0, 10),
        "writes": st.lists(st.sampled_from(["src/**", "./docs", "a/b/*.py", "."]), max_size=3),
        "isolation": st.just("worktree"),
        "backend": st.just("command"),
        "context": st.dictionaries(
            st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=2
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    tasks=st.lists(_task, min_size=1, max_size=6),
    mode=st.sampled_from(["sequential", "parallel", "hybrid"]),
    edges=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=8),
)
def test_the_normalized_form_parses_back_to_the_same_spec(
    tasks: list[dict[str, Any]], mode: str, edges: list[tuple[int, int]]
) -> None:
    for later, earlier in edges:  # only edges to earlier tasks: always a DAG
        if earlier < later < len(tasks):
            tasks[later].setdefault("dependencies", []).append(f"task-{earlier}")
    spec = parse_workflow(W(*tasks, coordination_mode=mode), cpu_count=3)
    again = parse_workflow(spec.to_dict(), cpu_count=3)
    assert again == spec
    assert again.input_hash == spec.input_hash
    assert pickle.loads(pickle.dumps(spec)) == spec


# -- the schema the model sees agrees with the checks ------------------------------------------


def _workflow_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    top = COORDINATE_MULTI_AGENT_WORKFLOW["parameters"]
    return top, top["properties"]["agent_tasks"]["items"]


def test_the_schema_names_exactly_the_fields_the_checks_accept() -> None:
    top, task = _workflow_schema()
    assert tuple(top["properties"]) == wf.WORKFLOW_FIELDS
    assert tuple(task["properties"]) == wf.TASK_FIELDS
    assert (
        task["properties"]["id"]["pattern"]
        == EXECUTE_AGENT_SUBPROCESS["parameters"]["properties"]["agent_type"]["pattern"]
    )
    assert task["properties"]["agent_type"]["pattern"] == wf.NAME_PATTERN


def test_the_tool_schema_and_the_checks_agree_on_limits() -> None:
    accepted = W(
        T(timeout=86400, memory_limit=16, retries=10), max_concurrency=1024, budget_usd=100000
    )
    assert validate_arguments("coordinate_multi_agent_workflow", accepted) == accepted
    parse_workflow(accepted)
    for bad in (
        W(T(timeout=86401)),
        W(T(memory_limit=15)),
        W(T(retries=11)),
        W(T(), max_concurrency=1025),
        W(T(), budget_usd=0),
        W(T(), budget_usd=100000.5),
        W(T(isolation="container")),
        W(T(backend="docker")),
        W(T(id="two words")),
    ):
        with pytest.raises(InvalidInput):
            validate_arguments("coordinate_multi_agent_workflow", bad)
        with pytest.raises(WorkflowInvalid):
            parse_workflow(bad)


def test_the_description_tells_the_model_about_the_rules_it_must_know() -> None:
    text = COORDINATE_MULTI_AGENT_WORKFLOW["description"]
    for phrase in ("hybrid", "priority", "max_concurrency", "cycles", "'stop'", "worktree"):
        assert phrase in text
    _, task = _workflow_schema()
    assert "task-0" in task["properties"]["id"]["description"]


def test_a_spec_is_frozen() -> None:
    spec = parse_workflow(REFERENCE)
    with pytest.raises(AttributeError):
        spec.description = "other"  # type: ignore[misc]
    assert isinstance(spec, WorkflowSpec)


def test_context_is_copied_so_the_caller_may_change_its_own() -> None:
    context: dict[str, Any] = {"file_paths": ["a"]}
    spec = parse_workflow(W(T(context=context)))
    context["file_paths"].append("b")
    assert spec.tasks[0].context == {"file_paths": ["a"]}
    spec.tasks[0].to_dict()["context"]["file_paths"].append("c")
    assert spec.tasks[0].context == {"file_paths": ["a"]}


def test_dates_in_yaml_are_rejected_not_stringified() -> None:
    with pytest.raises(WorkflowInvalid, match="quote dates in YAML"):
        parse_workflow(W(T(context={"due": datetime.date(2026, 1, 2)})))
