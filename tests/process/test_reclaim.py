"""Reclaim: the trees of an orchestrator killed with SIGKILL are found again and killed.

The end-to-end tests run real orchestrators (``reclaim_orchestrator.py``: the
real AgentRunner, recording in a real state.db), SIGKILL one mid-run, and run
the real ``claude-pm runs`` command: the dead one's agent and grandchild die,
the live one's run is untouched. The store-level tests build records from the
identities of real live and dead processes, around a real tree.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_snippets import is_gone, read_pids, wait_until

from claude_pm.agents.runs import RunRecord, RunStatus, RunStore
from claude_pm.process.cgroups import all_run_dirs, cgroup_support
from claude_pm.process.identity import Liveness, liveness, process_identity
from claude_pm.process.reclaim import TreeIdentity, kill_recorded_tree
from claude_pm.process.tree import TOKEN_VARIABLE, read_stat
from claude_pm.state import Database

REPO = Path(__file__).parents[2]
ORCHESTRATOR = Path(__file__).with_name("reclaim_orchestrator.py")

#: An agent that starts a grandchild in a session of its own, writes both pids, and waits.
SLEEPER = """
import os, subprocess, sys, time
g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                     start_new_session=True)
with open("{name}.pids.tmp", "w") as f:
    f.write(f"{{os.getpid()}} {{g.pid}}")
os.replace("{name}.pids.tmp", "{name}.pids")
time.sleep(300)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


def _orchestrator(project: Path, agent: str, use_cgroups: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ORCHESTRATOR), str(project), agent, "1" if use_cgroups else "0"],
        cwd=project,
        env=_env(),
    )


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )


def _tree_recorded(project: Path, agent: str) -> tuple[str, int] | None:
    """(run id, tree root pid) once the run of ``agent`` has its tree recorded."""
    path = project / ".claude-pm" / "state.db"
    if not path.exists():
        return None
    try:
        with sqlite3.connect(path) as conn:
            row = conn.execute(
                "SELECT run_id, tree_root_pid FROM runs WHERE agent_type = ? "
                "AND tree_token IS NOT NULL",
                (agent,),
            ).fetchone()
        conn.close()
    except sqlite3.Error:
        return None
    return (str(row[0]), int(row[1])) if row else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _groups_of(pid: int) -> list[Path]:
    return [p for p in all_run_dirs(cgroup_support()) if p.name.startswith(f"claude-pm-{pid}-")]


def test_a_sigkilled_orchestrators_tree_is_killed_by_the_next_runs_command(
    project: Path, write_agent, use_cgroups: bool
) -> None:
    write_agent("doomed", SLEEPER.format(name="doomed"))
    write_agent("steady", SLEEPER.format(name="steady"))
    dead = _orchestrator(project, "doomed", use_cgroups)
    live = _orchestrator(project, "steady", use_cgroups)
    try:
        assert wait_until(
            lambda: (
                len(read_pids(project / "doomed.pids")) == 2
                and len(read_pids(project / "steady.pids")) == 2
                and _tree_recorded(project, "doomed") is not None
                and _tree_recorded(project, "steady") is not None
            ),
            timeout_s=60,
        )
        doomed_run, doomed_root = _tree_recorded(project, "doomed") or ("", 0)
        doomed = sorted({doomed_root, *read_pids(project / "doomed.pids")})
        steady = read_pids(project / "steady.pids")
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        # SIGKILL ran none of the orchestrator's cleanup: its tree lives on.
        assert not any(is_gone(pid) for pid in doomed)

        listed = _cli(project, "runs", "--json")

        assert listed.returncode == 0, listed.stderr
        assert wait_until(lambda: all(is_gone(pid) for pid in doomed), timeout_s=10)
        assert not any(is_gone(pid) for pid in steady), "a live orchestrator's run was touched"
        expected = f"left by run {doomed_run} of dead orchestrator pid {dead.pid}; marked abandoned"
        assert f"killed {len(doomed)} processes" in listed.stderr and expected in listed.stderr
        statuses = {r["agent_type"]: r["status"] for r in json.loads(listed.stdout)}
        assert statuses == {"doomed": "abandoned", "steady": "running"}
        assert not _groups_of(dead.pid)
        # Nothing is reclaimed twice.
        again = _cli(project, "runs", "--json")
        assert again.returncode == 0 and "killed" not in again.stderr
    finally:
        _stop(live)
        _stop(dead)
    assert wait_until(lambda: all(is_gone(pid) for pid in steady), timeout_s=10)


# -- the store's decisions, around a real tree -------------------------------------------


@pytest.fixture
def dead_identity() -> str:
    """The identity of a process that ran on this boot and is gone."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(child.pid)
    child.wait()
    return identity


@pytest.fixture
def live_identity() -> Iterator[str]:
    """The identity of a process that keeps running for the test (stands for a live driver)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield process_identity(child.pid)
    finally:
        child.kill()
        child.wait()


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[TreeIdentity, list[int]]]:
    """A real tree left by nobody: a root in its own session and a grandchild that left it."""
    token = os.urandom(8).hex()
    pid_file = tmp_path / "tree.pids"
    code = (
        "import os, subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " start_new_session=True)\n"
        f"open({str(pid_file)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{g.pid}}')\n"
        f"os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"
        "time.sleep(300)\n"
    )
    root = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, TOKEN_VARIABLE: token},
        start_new_session=True,
    )
    try:
        assert wait_until(lambda: len(read_pids(pid_file)) == 2)
        stat = read_stat(root.pid)
        assert stat is not None
        yield (
            TreeIdentity(
                supervisor="",
                root_pid=root.pid,
                root_start_ticks=stat.start_ticks,
                pgid=root.pid,
                token=token,
            ),
            read_pids(pid_file),
        )
    finally:
        for pid in read_pids(pid_file):
            if not is_gone(pid):
                os.kill(pid, signal.SIGKILL)
        root.wait()


def _record(store: RunStore, run_id: str, orchestrator: str, tree: TreeIdentity) -> None:
    store.record_start(
        RunRecord(run_id, "qa", "t", RunStatus.RUNNING, time.time(), orchestrator=orchestrator)
    )
    store.record_tree(run_id, tree)


def test_a_live_driver_keeps_its_runs_even_when_their_supervisor_died(
    tmp_path: Path, tree, live_identity: str, dead_identity: str
) -> None:
    """A Ray worker's run is recorded by the driver: while the driver lives, nothing moves."""
    identity, pids = tree
    store = RunStore(Database(tmp_path / "state.db"))
    _record(
        store,
        "driven",
        live_identity,
        TreeIdentity(**{**identity.to_dict(), "supervisor": dead_identity}),
    )

    assert store.reclaim() == []
    assert not any(is_gone(pid) for pid in pids)
    run = store.get("driven")
    assert run is not None and run.status is RunStatus.RUNNING
    assert run.tree is not None and run.tree.token == identity.token


def test_a_live_supervisor_keeps_the_tree_of_a_dead_orchestrator(
    tmp_path: Path, tree, live_identity: str, dead_identity: str
) -> None:
    identity, pids = tree
    store = RunStore(Database(tmp_path / "state.db"))
    _record(
        store,
        "worked",
        dead_identity,
        TreeIdentity(**{**identity.to_dict(), "supervisor": live_identity}),
    )

    assert store.reclaim() == []
    assert not any(is_gone(pid) for pid in pids)


def test_a_run_of_a_dead_orchestrator_and_supervisor_is_killed_and_marked(
    tmp_path: Path, tree, dead_identity: str
) -> None:
    identity, pids = tree
    store = RunStore(Database(tmp_path / "state.db"))
    _record(
        store,
        "orphaned",
        dead_identity,
        TreeIdentity(**{**identity.to_dict(), "supervisor": dead_identity}),
    )

    [done] = store.reclaim()

    assert done.run_id == "orphaned" and done.marked and done.tree_recorded
    assert set(done.killed) == {identity.root_pid, *pids}
    assert wait_until(lambda: all(is_gone(pid) for pid in [identity.root_pid, *pids]))
    run = store.get("orphaned")
    assert run is not None and run.status is RunStatus.ABANDONED
    assert "2 processes it left were killed" in (run.error or "")
    assert done.message().startswith(f"killed 2 processes (pids {min(pids)}, {max(pids)}) left by")
    assert store.reclaim() == []


def test_an_orchestrator_on_another_host_or_namespace_is_never_taken_for_dead(
    tmp_path: Path, tree, dead_identity: str
) -> None:
    boot, pid, start, namespace, host = dead_identity.split("/")
    elsewhere = f"{boot}/{pid}/{start}/{namespace}/{host}-other"
    other_container = f"{boot}/{pid}/{start}/1/{host}"
    identity, pids = tree
    assert liveness(elsewhere) is Liveness.UNKNOWN
    assert liveness(other_container) is Liveness.UNKNOWN
    assert liveness(dead_identity) is Liveness.EXITED
    store = RunStore(Database(tmp_path / "state.db"))
    for run_id, orchestrator in (("far", elsewhere), ("boxed", other_container)):
        _record(
            store,
            run_id,
            orchestrator,
            TreeIdentity(**{**identity.to_dict(), "supervisor": orchestrator}),
        )

    assert store.reclaim() == []
    assert not any(is_gone(p) for p in pids)


def test_kill_recorded_tree_refuses_while_the_supervisor_lives(tree, live_identity: str) -> None:
    identity, pids = tree
    done = kill_recorded_tree(TreeIdentity(**{**identity.to_dict(), "supervisor": live_identity}))

    assert not done.acted and done.supervisor is Liveness.ALIVE
    assert not any(is_gone(p) for p in pids)


def test_a_run_cut_short_by_a_reboot_is_marked_and_nothing_is_signalled(
    tmp_path: Path, tree, dead_identity: str
) -> None:
    """After a reboot the recorded pids belong to other processes: they are never signalled."""
    _boot, *rest = dead_identity.split("/")
    before_reboot = "/".join(["an-earlier-boot", *rest])
    identity, pids = tree
    store = RunStore(Database(tmp_path / "state.db"))
    _record(
        store,
        "rebooted",
        before_reboot,
        TreeIdentity(**{**identity.to_dict(), "supervisor": before_reboot}),
    )

    [done] = store.reclaim()

    assert done.orchestrator == "rebooted" and done.marked and not done.killed
    assert "cut short by a reboot; marked abandoned" in done.message()
    assert not any(is_gone(p) for p in [identity.root_pid, *pids])
