"""No orphans on any exit path, escaped grandchildren, and cgroups removed afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from process_snippets import (
    RunSnippet,
    any_cgroup_available,
    is_gone,
    read_pids,
    wait_until,
)

from claude_pm.process import ProcessStatus
from claude_pm.process.cgroups import all_run_dirs, cgroup_support, remove_stale_groups
from claude_pm.process.identity import start_ticks

ORCHESTRATOR = Path(__file__).with_name("orchestrator_script.py")


def _our_groups() -> list[Path]:
    prefix = f"claude-pm-{os.getpid()}-"
    return [p for p in all_run_dirs(cgroup_support()) if p.name.startswith(prefix)]


def test_background_grandchild_holding_stdout_does_not_delay_completion(
    run_snippet: RunSnippet, tmp_path: Path, use_cgroups: bool
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    result = run_snippet(
        f"""
        import subprocess, sys
        g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
        open({str(pid_file)!r}, 'w').write(str(g.pid))
        print('child done')
        """,
        timeout_s=60.0,
        use_cgroups=use_cgroups,
    )

    assert result.status is ProcessStatus.COMPLETED
    assert result.stdout_tail == "child done\n"
    killed = [e for e in result.events if e.kind == "tree_killed"]
    assert killed and killed[0].data["count"] >= 1
    assert is_gone(read_pids(pid_file)[0])


def test_grandchild_that_left_the_session_is_killed(
    run_snippet: RunSnippet, tmp_path: Path, use_cgroups: bool
) -> None:
    pid_file = tmp_path / "escaped.pid"
    result = run_snippet(
        f"""
        import subprocess, sys
        g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],
                             start_new_session=True)
        open({str(pid_file)!r}, 'w').write(str(g.pid))
        """,
        use_cgroups=use_cgroups,
    )

    assert result.status is ProcessStatus.COMPLETED
    assert is_gone(read_pids(pid_file)[0])
    if not use_cgroups:
        assert "escaped_processes" in [e.kind for e in result.events]


def test_double_forked_daemon_is_killed(
    run_snippet: RunSnippet, tmp_path: Path, use_cgroups: bool
) -> None:
    pid_file = tmp_path / "daemon.pid"
    result = run_snippet(
        f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open({str(pid_file)!r} + '.tmp', 'w').write(str(os.getpid()))
                os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})
                time.sleep(300)
            os._exit(0)
        os.wait()
        while not os.path.exists({str(pid_file)!r}):
            time.sleep(0.01)
        """,
        use_cgroups=use_cgroups,
    )

    assert result.status is ProcessStatus.COMPLETED
    assert is_gone(read_pids(pid_file)[0])


def test_exception_in_the_orchestrator_kills_the_tree(
    run_snippet: RunSnippet, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"

    class Boom(Exception):
        pass

    class ExplodingCancel:
        """Stands in for the orchestrator failing mid-run (run_process polls it)."""

        def is_set(self) -> bool:
            if read_pids(pid_file):
                raise Boom
            return False

    with pytest.raises(Boom):
        run_snippet(
            f"""
            import os, subprocess, sys, time
            g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
            open({str(pid_file)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{g.pid}}')
            os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})
            time.sleep(300)
            """,
            cancel=ExplodingCancel(),  # type: ignore[arg-type]
        )

    assert all(is_gone(pid) for pid in read_pids(pid_file))
    assert not _our_groups()


def _start_orchestrator(tmp_path: Path, mode: str, use_cgroups: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ORCHESTRATOR), str(tmp_path), mode, "1" if use_cgroups else "0"],
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )


def _stop_orchestrator(orchestrator: subprocess.Popen[bytes], signum: int | None) -> None:
    try:
        if signum is not None:
            orchestrator.send_signal(signum)
        orchestrator.wait(timeout=30)
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
            orchestrator.wait()


def _assert_nothing_left(orchestrator_pid: int, pids: list[int]) -> None:
    assert len(pids) == 2
    assert wait_until(lambda: all(is_gone(pid) for pid in pids), timeout_s=5)
    prefix = f"claude-pm-{orchestrator_pid}-"
    assert not [p for p in all_run_dirs(cgroup_support()) if p.name.startswith(prefix)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("mode", ["main", "thread"])
def test_signalled_orchestrator_leaves_nothing_behind(
    tmp_path: Path, signum: int, mode: str, use_cgroups: bool
) -> None:
    orchestrator = _start_orchestrator(tmp_path, mode, use_cgroups)
    try:
        assert wait_until(lambda: len(read_pids(tmp_path / "pids")) == 2)
    finally:
        _stop_orchestrator(orchestrator, signum)

    _assert_nothing_left(orchestrator.pid, read_pids(tmp_path / "pids"))
    if mode == "thread":
        assert (tmp_path / "status").read_text() == "cancelled"


def test_keyboard_interrupt_without_our_handlers_kills_the_tree(
    tmp_path: Path, use_cgroups: bool
) -> None:
    orchestrator = _start_orchestrator(tmp_path, "main-default", use_cgroups)
    try:
        assert wait_until(lambda: len(read_pids(tmp_path / "pids")) == 2)
    finally:
        _stop_orchestrator(orchestrator, signal.SIGINT)

    _assert_nothing_left(orchestrator.pid, read_pids(tmp_path / "pids"))


def test_exit_hook_kills_trees_of_daemon_threads(tmp_path: Path, use_cgroups: bool) -> None:
    orchestrator = _start_orchestrator(tmp_path, "daemon", use_cgroups)
    _stop_orchestrator(orchestrator, None)

    _assert_nothing_left(orchestrator.pid, read_pids(tmp_path / "pids"))


@pytest.mark.skipif(not any_cgroup_available(), reason="no writable cgroup")
def test_cgroups_are_removed_after_each_run(run_snippet: RunSnippet) -> None:
    result = run_snippet(
        "import subprocess, sys; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])"
    )

    assert any(e.data.get("tracking", [""])[0].startswith("cgroup") for e in result.events)
    assert not _our_groups()


@pytest.mark.skipif(not any_cgroup_available(), reason="no writable cgroup")
def test_leftover_groups_of_a_dead_owner_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    support = cgroup_support()
    parents = [support.v2_dir] if support.v2_dir else list(support.v1_dirs.values())
    parent_start = start_ticks(os.getppid())
    stale = [p / f"claude-pm-{dead.pid}-1" for p in parents if p is not None]
    # The owner's pid lives, but it is another process now (the pid was reused).
    stale += [p / f"claude-pm-{os.getppid()}-{(parent_start or 0) + 1}-1" for p in parents]
    alive = [p / f"claude-pm-{os.getppid()}-1" for p in parents if p is not None]
    alive += [p / f"claude-pm-{os.getppid()}-{parent_start}-2" for p in parents]
    for group in stale + alive:
        group.mkdir()
    try:
        removed = remove_stale_groups(support)
        assert removed >= len(stale)
        assert not any(p.exists() for p in stale)
        assert all(p.exists() for p in alive)
    finally:
        for group in stale + alive:
            if group.exists():
                group.rmdir()
