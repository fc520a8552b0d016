"""cgroup v2 set-up, against a simulated kernel (``fake_cgroupfs.py``): no v2 on this machine.

What is verified here is the decision and the writes: when claude-pm moves
itself into a leaf of its own group and enables ``memory`` (and ``pids``) for
run groups beside it, when it refuses and why, and that a refusal by the
kernel leaves the hierarchy as it was. That the real kernel behaves like the
fake is verified only on machines with a delegated v2 hierarchy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_cgroupfs import FakeKernel

from claude_pm.process.cgroupfs import (
    Step,
    StepKind,
    V2State,
    mounts,
    own_paths,
    plan_v2,
    resolve,
    setup_v2,
)
from claude_pm.process.cgroups import CgroupSupport, RunGroups, remove_stale_groups

ME = 4242
SCOPE = "user.slice/user-1000.slice/user@1000.service/app.slice/claude.scope"


def _state(**changes: object) -> V2State:
    base: dict[str, object] = {
        "group": Path("/cg/scope"),
        "pid": ME,
        "is_root": False,
        "writable": True,
        "controllers": frozenset({"cpu", "memory", "pids"}),
        "subtree_control": frozenset(),
        "procs": frozenset({ME}),
        "group_type": "domain",
    }
    return V2State(**{**base, **changes})  # type: ignore[arg-type]


# -- the decision, pure -----------------------------------------------------------------

REFUSALS = {
    "memory not delegated": (
        {"controllers": frozenset({"cpu", "pids"})},
        "memory is not delegated",
    ),
    "not writable": ({"writable": False}, "not writable"),
    "threaded group": ({"group_type": "threaded"}, "not a domain group"),
    "others in the group": (
        {"procs": frozenset({ME, 1, 77})},
        "also holds 2 other processes: the kernel enables no controller",
    ),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_plan_refuses_and_says_why(case: str) -> None:
    changes, reason = REFUSALS[case]
    plan = plan_v2(_state(**changes))

    assert plan.run_parent is None and plan.steps == ()
    assert reason in plan.reason


def test_plan_alone_in_the_group_moves_into_a_leaf_then_enables_memory_and_pids() -> None:
    plan = plan_v2(_state())

    leaf = Path("/cg/scope/claude-pm-orchestrator-4242")
    assert plan.run_parent == Path("/cg/scope") and plan.leaf == leaf
    assert plan.steps == (
        Step(StepKind.MKDIR, leaf),
        Step(StepKind.MOVE, leaf / "cgroup.procs", "4242"),
        Step(StepKind.ENABLE, Path("/cg/scope/cgroup.subtree_control"), "+memory"),
        Step(StepKind.ENABLE, Path("/cg/scope/cgroup.subtree_control"), "+pids", required=False),
    )
    assert plan.controllers == {"memory", "pids"}


def test_plan_with_memory_already_enabled_writes_nothing() -> None:
    plan = plan_v2(_state(subtree_control=frozenset({"memory", "pids"}), procs=frozenset()))

    assert (plan.run_parent, plan.steps, plan.controllers) == (
        Path("/cg/scope"),
        (),
        {"memory", "pids"},
    )


def test_plan_in_the_root_group_enables_directly() -> None:
    plan = plan_v2(_state(is_root=True, group_type=None, procs=frozenset({1, ME})))

    assert [s.kind for s in plan.steps] == [StepKind.ENABLE, StepKind.ENABLE]
    assert plan.leaf is None


def test_plan_inside_an_orchestrators_leaf_uses_the_groups_beside_it() -> None:
    leaf = Path("/cg/scope/claude-pm-orchestrator-99")
    plan = plan_v2(
        _state(
            group=leaf,
            controllers=frozenset(),
            procs=frozenset({99, ME}),
            parent_subtree_control=frozenset({"memory", "pids"}),
        )
    )

    assert plan.run_parent == Path("/cg/scope") and plan.steps == ()


# -- the writes, through a kernel that refuses what the real one refuses --------------------


@pytest.fixture
def kernel(tmp_path: Path) -> FakeKernel:
    return FakeKernel(tmp_path / "cgroup")


def test_the_fake_kernel_enforces_no_internal_processes(kernel: FakeKernel) -> None:
    scope = kernel.group(SCOPE, procs=[ME])

    with pytest.raises(OSError, match="busy"):
        kernel.write(scope / "cgroup.subtree_control", "+memory")


def test_alone_in_a_delegated_scope_the_orchestrator_moves_to_a_leaf(kernel: FakeKernel) -> None:
    scope = kernel.group(SCOPE, controllers=("cpu", "memory", "pids"), procs=[ME])

    outcome = setup_v2(kernel.root, scope, ME, kernel)

    leaf = scope / f"claude-pm-orchestrator-{ME}"
    assert outcome.run_parent == scope and outcome.leaf == leaf
    assert outcome.controllers == {"memory", "pids"}
    assert kernel.procs(leaf) == [ME] and kernel.procs(scope) == []
    assert kernel.enabled(scope) == {"memory", "pids"}
    assert "moved the orchestrator into" in outcome.reason
    # Run groups made beside the leaf get the limits.
    support = CgroupSupport(v2_dir=scope, v1_dirs={}, v2_controllers=outcome.controllers)
    groups = RunGroups.create(support, memory_limit_bytes=100 << 20, pids_limit=64)
    assert groups is not None and groups.v2 and groups.limit_set and groups.pids_limit == 64
    run_dir = groups.dirs["unified"]
    assert run_dir.parent == scope
    assert (run_dir / "memory.max").read_text() == str(100 << 20)
    assert (run_dir / "pids.max").read_text() == "64"


def test_with_other_processes_in_the_group_nothing_is_written(kernel: FakeKernel) -> None:
    scope = kernel.group(SCOPE, procs=[1, ME])

    outcome = setup_v2(kernel.root, scope, ME, kernel)

    assert outcome.run_parent is None and "also holds 1 other processes" in outcome.reason
    assert kernel.writes == [] and kernel.procs(scope) == [1, ME]


def test_a_refusal_after_the_move_puts_everything_back(kernel: FakeKernel) -> None:
    """Processes of another pid namespace are invisible in cgroup.procs but not to the kernel."""
    scope = kernel.group(SCOPE, procs=[ME])
    kernel.hidden.add(scope)

    outcome = setup_v2(kernel.root, scope, ME, kernel)

    assert outcome.run_parent is None
    assert "the kernel refused enable +memory" in outcome.reason
    assert kernel.procs(scope) == [ME] and kernel.enabled(scope) == set()
    assert not (scope / f"claude-pm-orchestrator-{ME}").exists()


def test_pids_refused_still_gives_memory(kernel: FakeKernel) -> None:
    scope = kernel.group(SCOPE, procs=[ME])
    kernel.refused.add("pids")

    outcome = setup_v2(kernel.root, scope, ME, kernel)

    assert outcome.run_parent == scope and outcome.controllers == {"memory"}
    assert "refused enable +pids" in outcome.reason


def test_a_read_only_group_is_not_used(kernel: FakeKernel) -> None:
    scope = kernel.group(SCOPE, procs=[ME])
    kernel.read_only.add(scope)

    outcome = setup_v2(kernel.root, scope, ME, kernel)

    assert outcome.run_parent is None and "not writable" in outcome.reason
    assert kernel.writes == []


def test_where_our_group_is_comes_from_mountinfo_and_proc_cgroup() -> None:
    mountinfo = (
        "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
        "rw,nsdelegate,memory_recursiveprot\n"
        "36 24 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    )
    found = mounts(mountinfo)
    own = own_paths(f"0::/{SCOPE}\n4:memory:/\n")

    assert [(m[0], m[2]) for m in found] == [
        ("cgroup2", "/sys/fs/cgroup"),
        ("cgroup", "/sys/fs/cgroup/memory"),
    ]
    assert own == {"": f"/{SCOPE}", "memory": "/"}
    assert resolve("/", "/sys/fs/cgroup", own[""]) == Path(f"/sys/fs/cgroup/{SCOPE}")
    # A container's namespace root: our group is the mount's top directory.
    assert resolve("/", "/sys/fs/cgroup", "/") == Path("/sys/fs/cgroup")
    assert resolve("/kubepods/pod1", "/sys/fs/cgroup", "/other") is None


def test_leaves_of_dead_orchestrators_are_removed_when_empty(tmp_path: Path) -> None:
    parent = tmp_path / "scope"
    dead_leaf = parent / "claude-pm-orchestrator-999999999"
    live_leaf = parent / "claude-pm-orchestrator-1"
    dead_leaf.mkdir(parents=True)
    live_leaf.mkdir()

    remove_stale_groups(CgroupSupport(v2_dir=parent, v1_dirs={}))

    assert not dead_leaf.exists() and live_leaf.exists()
