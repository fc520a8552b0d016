"""The fault suite: what an agent or the orchestrator's world can do wrong, with real processes.

Every test here checks the same four things after the fault: no orphan (each
pid the tree reported is gone; the autouse fixture also finds no live
descendant), no zombie (no unreaped child of this process), no leftover cgroup
(no run group of this process), and nothing lost (the logs hold what was
written; state.db keeps every row it had).

=================================  ====================================================
fault                              where
=================================  ====================================================
crash (SIGSEGV)                    ``AGENT_FAULTS["crash"]``
hang (timeout, TERM obeyed)        ``AGENT_FAULTS["hang"]``
TERM ignored                       ``AGENT_FAULTS["ignores TERM"]``; test_supervisor.py
fork bomb under the task limit     ``test_a_fork_bomb_is_stopped_by_the_task_limit``
double fork + setsid               ``AGENT_FAULTS["double fork + setsid"]``;
                                   test_tree_cleanup.py
floods on both streams             ``AGENT_FAULTS["floods both streams"]``
early close of stdout              ``AGENT_FAULTS["closes stdout early"]``
invalid UTF-8                      ``AGENT_FAULTS["invalid UTF-8"]``
exit before reading stdin          ``AGENT_FAULTS["exits before reading stdin"]``
a 200 MB single line               ``test_a_200_mb_line_keeps_the_orchestrator_small``
a million markers                  tests/tickets (the extractor's own suite)
SIGINT, SIGTERM to the             ``test_a_signalled_orchestrator_records_the_stop``;
orchestrator                       test_tree_cleanup.py (both tracking modes)
SIGKILL to the orchestrator        test_reclaim.py (reclaimed by the next command)
state.db locked                    tests/test_state.py (says locked, not corrupt)
state.db corrupted                 tests/test_state.py (refused, untouched)
full filesystem                    ``test_a_full_disk_during_a_run_keeps_what_was_stored``,
                                   ``test_a_full_disk_before_a_run_writes_nothing``
read-only filesystem               ``test_a_read_only_state_dir_is_said_and_changes_nothing``
=================================  ====================================================

The filesystem tests mount a small tmpfs (root only; they skip elsewhere,
saying why) and always unmount it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from process_snippets import RunSnippet, is_gone, read_pids, wait_until

from claude_pm.process import ProcessResult, ProcessStatus
from claude_pm.process.cgroups import all_run_dirs, cgroup_support

REPO = Path(__file__).parents[2]
ORCHESTRATOR = Path(__file__).with_name("reclaim_orchestrator.py")
MB = 1024 * 1024


# -- the four checks -----------------------------------------------------------------------


def _zombie_children() -> list[int]:
    zombies = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.status() == psutil.STATUS_ZOMBIE:
                zombies.append(child.pid)
    return zombies


def _groups_of(pid: int) -> list[Path]:
    return [p for p in all_run_dirs(cgroup_support()) if p.name.startswith(f"claude-pm-{pid}-")]


def assert_left_nothing(pids: list[int], *, owner: int | None = None) -> None:
    """No orphan among ``pids``, no zombie, no run group of the supervising process.

    When the supervisor ran here, a zombie child of ours is a member it failed to
    reap (this process is a subreaper, so orphans of the tree come to it). When
    ``owner`` is another process (an orchestrator subprocess), members orphaned by
    its exit come to us as they would go to init, which reaps them: so do we.
    """
    assert wait_until(lambda: all(is_gone(pid) for pid in pids), timeout_s=10), pids
    if owner is not None:
        for pid in set(_zombie_children()) & set(pids):
            os.waitpid(pid, 0)
    assert _zombie_children() == []
    assert _groups_of(owner or os.getpid()) == []


# -- agent-side faults ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """An agent snippet (``{pids}`` is a file it may write pids to), the spec, and the check."""

    code: str
    check: Callable[[ProcessResult], None]
    spec: dict[str, Any] = field(default_factory=dict)


def _crashed(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.FAILED and result.signal == signal.SIGSEGV
    assert result.stdout_path.read_text() == "before the crash\n"


def _hung(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.TIMEOUT and result.signal == signal.SIGTERM
    assert result.stdout_path.read_text() == "hanging\n"


def _ignored_term(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.TIMEOUT and result.signal == signal.SIGKILL
    assert result.stdout_tail == "ignoring TERM\n"


def _daemon_killed(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.COMPLETED
    assert "tree_killed" in [e.kind for e in result.events]


def _flooded(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.COMPLETED
    assert result.stdout_path.stat().st_size == 16 * MB
    assert result.stderr_path.stat().st_size == 16 * MB
    assert result.stdout_truncated and result.stdout_tail.endswith("o" * 1023 + "\n")
    assert result.stderr_truncated and result.stderr_tail.endswith("e" * 1023 + "\n")


def _closed_stdout(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.COMPLETED
    assert result.stdout_path.read_text() == "before the close\n"
    assert result.stderr_path.read_text() == "after the close\n"


def _invalid_utf8(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.COMPLETED
    assert result.stdout_path.read_bytes() == b"ok \xff\xfe \xc3( end\n"
    assert result.stdout_tail == "ok \ufffd\ufffd \ufffd( end\n"
    assert result.stderr_tail.startswith("\ufffd")


def _left_stdin(result: ProcessResult) -> None:
    assert result.status is ProcessStatus.COMPLETED and result.stdout_tail == "not reading\n"


AGENT_FAULTS: dict[str, Fault] = {
    "crash": Fault(
        "import os, signal\nprint('before the crash', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGSEGV)\n",
        _crashed,
    ),
    "hang": Fault(
        "import time\nprint('hanging', flush=True)\ntime.sleep(300)\n",
        _hung,
        {"timeout_s": 1.5, "kill_grace_s": 2.0},
    ),
    "ignores TERM": Fault(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring TERM', flush=True)\ntime.sleep(300)\n",
        _ignored_term,
        {"timeout_s": 1.5, "kill_grace_s": 0.3},
    ),
    "double fork + setsid": Fault(
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        open('{pids}.tmp', 'w').write(str(os.getpid()))\n"
        "        os.replace('{pids}.tmp', '{pids}')\n"
        "        time.sleep(300)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "while not os.path.exists('{pids}'):\n"
        "    time.sleep(0.01)\n",
        _daemon_killed,
    ),
    "floods both streams": Fault(
        "import sys\nout, err = b'o' * 1023 + b'\\n', b'e' * 1023 + b'\\n'\n"
        "for _ in range(16 * 1024):\n"
        "    sys.stdout.buffer.write(out)\n    sys.stderr.buffer.write(err)\n",
        _flooded,
    ),
    "closes stdout early": Fault(
        "import os, sys, time\nprint('before the close', flush=True)\nos.close(1)\n"
        "time.sleep(0.2)\nsys.stderr.write('after the close\\n')\n"
        "sys.stdout = open(os.devnull, 'w')\n",
        _closed_stdout,
    ),
    "invalid UTF-8": Fault(
        "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe \\xc3( end\\n')\n"
        "sys.stderr.buffer.write(b'\\x80\\x81 binary')\n",
        _invalid_utf8,
    ),
    "exits before reading stdin": Fault(
        "print('not reading')\n", _left_stdin, {"stdin_data": b"x" * (8 * MB)}
    ),
}


@pytest.mark.parametrize("name", AGENT_FAULTS, ids=list(AGENT_FAULTS))
def test_agent_fault_leaves_nothing_behind(
    name: str, run_snippet: RunSnippet, tmp_path: Path, use_cgroups: bool
) -> None:
    fault = AGENT_FAULTS[name]
    pid_file = tmp_path / "pids"
    result = run_snippet(
        fault.code.replace("{pids}", str(pid_file)), use_cgroups=use_cgroups, **fault.spec
    )

    fault.check(result)
    assert_left_nothing([p for p in [result.pid or 0, *read_pids(pid_file)] if p])


FORK_BOMB = """
import os, sys, time
children = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    children += 1
print(children, flush=True)
"""


def test_a_fork_bomb_is_stopped_by_the_task_limit(run_snippet: RunSnippet) -> None:
    if not cgroup_support().pids_limit_possible:
        pytest.skip(
            "no pids cgroup here: without one a fork bomb is bounded only by the memory "
            "limit and the user's RLIMIT_NPROC"
        )
    result = run_snippet(FORK_BOMB, pids_limit=32, timeout_s=30)

    assert result.status is ProcessStatus.COMPLETED
    assert 0 < int(result.stdout_tail) < 32
    enforcement = next(e for e in result.events if e.kind == "enforcement")
    assert enforcement.data["pids_limit"] == 32
    refused = next(e for e in result.events if e.kind == "pids_limit")
    assert refused.data["refused"] >= 1 and "refused" in refused.message
    killed = next(e for e in result.events if e.kind == "tree_killed")
    assert killed.data["count"] == int(result.stdout_tail)
    assert_left_nothing(list(killed.data["pids"]))


@pytest.mark.slow
def test_a_200_mb_line_keeps_the_orchestrator_small(
    project: Path, write_agent, use_cgroups: bool
) -> None:
    """The whole orchestrator side (supervision, ticket extraction, the result) stays bounded."""
    from claude_pm import ClaudeToolHandler

    write_agent(
        "liner",
        "import sys\nsys.stdout.write('TODO: one very long line ')\n"
        "for _ in range(200):\n    sys.stdout.write('x' * (1024 * 1024))\n",
    )
    handler = ClaudeToolHandler({"project_root": str(project)})
    tracemalloc.start()
    try:
        result = handler.handle_tool_call(
            "execute_agent_subprocess", {"agent_type": "liner", "task_description": "one line"}
        )
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result["success"], result.get("error")
    assert Path(result["log_paths"]["stdout"]).stat().st_size > 200 * MB
    assert len(result["output"].encode()) <= 16 * 1024 and result["output_truncated"]
    assert result["tickets_created_count"] == 1
    assert traced_peak < 32 * MB, f"the orchestrator held {traced_peak / MB:.0f} MB"
    assert _zombie_children() == [] and _groups_of(os.getpid()) == []


# -- orchestrator-side faults -------------------------------------------------------------

SLEEPER = """
import os, subprocess, sys, time
g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open("tree.pids.tmp", "w") as f:
    f.write(f"{os.getpid()} {g.pid}")
os.replace("tree.pids.tmp", "tree.pids")
time.sleep(300)
"""


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        rows = {
            "runs": conn.execute("SELECT * FROM runs ORDER BY run_id").fetchall(),
            "tickets": conn.execute("SELECT * FROM tickets ORDER BY seq").fetchall(),
        }
    conn.close()
    return rows


def _store_something(project: Path, state_dir: Path | None = None) -> None:
    """Two tickets and one finished run, so a later fault has something to lose."""
    from claude_pm import ClaudeToolHandler

    config: dict[str, Any] = {"project_root": str(project)}
    if state_dir is not None:
        config["state_dir"] = str(state_dir)
    handler = ClaudeToolHandler(config)
    stored = handler.handle_tool_call(
        "create_tickets_from_output",
        {
            "output_text": "TODO: keep one\nFIXME: keep two\n",
            "source_agent": "qa",
            "auto_create": True,
        },
    )
    assert stored["success"] and stored["tickets_created_count"] == 2, stored
    ran = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "quiet", "task_description": "before"}
    )
    assert ran["success"], ran


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signalled_orchestrator_records_the_stop(project: Path, write_agent, signum: int) -> None:
    write_agent("quiet", "print('quiet')")
    write_agent("sleeper", SLEEPER)
    _store_something(project)
    db = project / ".claude-pm" / "state.db"
    before = _rows(db)
    orchestrator = subprocess.Popen(
        [sys.executable, str(ORCHESTRATOR), str(project), "sleeper", "1"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert wait_until(lambda: len(read_pids(project / "tree.pids")) == 2, timeout_s=60)
        orchestrator.send_signal(signum)
        orchestrator.wait(timeout=30)
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
            orchestrator.wait()

    assert_left_nothing(read_pids(project / "tree.pids"), owner=orchestrator.pid)
    after = _rows(db)
    assert after["tickets"] == before["tickets"]
    assert [r for r in after["runs"] if r in before["runs"]] == before["runs"]
    [stopped] = [r for r in after["runs"] if r not in before["runs"]]
    assert "cancelled" in stopped and "the orchestrator stopped during the run" in stopped


# -- the filesystem fills up, or turns read-only -------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs the test may fill or remount read-only; unmounted whatever happens."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount_point)], check=False)
        if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler


#: An agent that prints findings, then fills the disk its run directory is on.
FILLER_AFTER_OUTPUT = """
import os, sys
print("TODO: found before the disk filled", flush=True)
target = os.path.join(os.environ["CLAUDE_PM_RUN_DIR"], "..", "..", "filler")
with open(target, "wb", buffering=0) as f:
    try:
        while True:
            f.write(b"\\0" * 4096)
    except OSError:
        pass
print("TODO: this one cannot be written " + "x" * 65536, flush=True)
"""

#: An agent that fills the disk before it writes anything.
FILLER_FIRST = FILLER_AFTER_OUTPUT.replace(
    'print("TODO: found before the disk filled", flush=True)\n', ""
)


@pytest.mark.parametrize("output_first", [True, False], ids=["output-kept", "nothing-to-keep"])
def test_a_full_disk_during_a_run_keeps_what_was_stored(
    project: Path, write_agent, small_tmpfs: Path, output_first: bool
) -> None:
    from claude_pm import ClaudeToolHandler

    state = small_tmpfs / "state"
    write_agent("quiet", "print('quiet')")
    write_agent("filler", FILLER_AFTER_OUTPUT if output_first else FILLER_FIRST)
    _store_something(project, state)
    before = _rows(state / "state.db")
    handler = ClaudeToolHandler({"project_root": str(project), "state_dir": str(state)})

    result = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "filler", "task_description": "fill"}
    )

    assert not result["success"] and "Internal error" not in json.dumps(result)
    assert "error_type" not in result  # a run that happened, not an exception
    kinds = [e["kind"] for e in result["events"]]
    assert "disk_full" in kinds
    assert "is full (0.0 MB free)" in result["report_error"]
    assert "the disk is full (0.0 MB free on that filesystem)" in result["record_error"]
    run_dir = Path(result["log_paths"]["stdout"]).parent
    if output_first:
        assert "the disk is full" in result["ticket_error"]
        assert run_dir.is_dir() and "found before the disk filled" in result["output"]
    else:
        assert "its directory was removed" in result["report_error"]
        assert not run_dir.exists()
    (state / "filler").unlink()
    after = _rows(state / "state.db")
    assert after["tickets"] == before["tickets"]
    assert [r for r in after["runs"] if r in before["runs"]] == before["runs"]
    assert _zombie_children() == [] and _groups_of(os.getpid()) == []


def test_a_full_disk_before_a_run_writes_nothing(
    project: Path, write_agent, small_tmpfs: Path
) -> None:
    from claude_pm import ClaudeToolHandler

    state = small_tmpfs / "state"
    write_agent("quiet", "print('quiet')")
    _store_something(project, state)
    before = _rows(state / "state.db")
    runs_before = sorted(p.name for p in (state / "runs").iterdir())
    filler = _fill(small_tmpfs)
    handler = ClaudeToolHandler({"project_root": str(project), "state_dir": str(state)})

    ran = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "quiet", "task_description": "go"}
    )
    filed = handler.handle_tool_call(
        "create_tickets_from_output",
        {"output_text": "TODO: new\n", "source_agent": "qa", "auto_create": True},
    )

    for failed in (ran, filed):
        assert not failed["success"] and failed["error_type"] in ("StoreError", "ContextError")
        assert "0.0 MB free on that filesystem" in failed["error"]
        assert "Free some space" in failed["error"]
    assert sorted(p.name for p in (state / "runs").iterdir()) == runs_before
    filler.unlink()
    assert _rows(state / "state.db") == before


def test_a_read_only_state_dir_is_said_and_changes_nothing(
    project: Path, write_agent, small_tmpfs: Path
) -> None:
    from claude_pm import ClaudeToolHandler

    state = small_tmpfs / "state"
    write_agent("quiet", "print('quiet')")
    _store_something(project, state)
    before = _rows(state / "state.db")
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    handler = ClaudeToolHandler({"project_root": str(project), "state_dir": str(state)})

    ran = handler.handle_tool_call(
        "execute_agent_subprocess", {"agent_type": "quiet", "task_description": "go"}
    )
    filed = handler.handle_tool_call(
        "create_tickets_from_output",
        {"output_text": "TODO: new\n", "source_agent": "qa", "auto_create": True},
    )

    for failed in (ran, filed):
        assert not failed["success"] and failed["error_type"] == "StoreError"
        assert "read-only" in failed["error"] and "CLAUDE_PM_STATE_DIR" in failed["error"]
        assert failed["error_details"]["reason"] == "read_only"
    subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    assert _rows(state / "state.db") == before
