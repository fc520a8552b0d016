"""The supervisor's basic contract: statuses, output, stdin, timeout, cancel, spawn errors."""

from __future__ import annotations

import os
import signal
import sys
import threading
import tracemalloc
from pathlib import Path

from process_snippets import RunSnippet, wait_until

from claude_pm.process import (
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    Supervisor,
    run_process,
)
from claude_pm.process.memory import rss_bytes


def test_completed_run_reports_output_and_measures(run_snippet: RunSnippet) -> None:
    result = run_snippet("import sys; print('hello'); print('oops', file=sys.stderr)")

    assert result.status is ProcessStatus.COMPLETED and result.ok
    assert (result.exit_code, result.signal) == (0, None)
    assert result.stdout_tail == "hello\n"
    assert result.stderr_tail == "oops\n"
    assert result.stdout_path.read_text() == "hello\n"
    assert result.stderr_path.read_text() == "oops\n"
    assert not result.stdout_truncated and not result.stderr_truncated
    assert result.pid is not None and result.wall_time_s > 0
    assert result.cpu_time_s > 0
    assert result.peak_rss_bytes > 0
    assert [e.kind for e in result.events][:1] == ["enforcement"]


def test_failing_exit_code_is_failed(run_snippet: RunSnippet) -> None:
    result = run_snippet("import sys; sys.exit(3)")

    assert result.status is ProcessStatus.FAILED
    assert (result.exit_code, result.signal) == (3, None)


def test_killed_by_a_signal_we_did_not_send_is_failed(run_snippet: RunSnippet) -> None:
    result = run_snippet("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")

    assert result.status is ProcessStatus.FAILED
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)


def test_tails_are_bounded_and_flag_truncation(run_snippet: RunSnippet) -> None:
    result = run_snippet(
        "import sys; sys.stdout.write('a' * 10000 + 'END'); sys.stderr.write('short')",
        tail_bytes=100,
    )

    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout_tail) == 100 and result.stdout_tail.endswith("END")
    assert result.stdout_path.stat().st_size == 10003
    assert result.stderr_tail == "short"


def test_tail_cut_inside_a_character_is_replaced_not_an_error(run_snippet: RunSnippet) -> None:
    result = run_snippet("import sys; sys.stdout.buffer.write('é'.encode() * 50)", tail_bytes=9)

    assert result.stdout_truncated
    assert result.stdout_tail.endswith("éééé")


def test_huge_output_does_not_grow_the_orchestrator(run_snippet: RunSnippet) -> None:
    """Measured as memory in use now (traced allocations, current RSS), not a high-water mark:
    ``ru_maxrss`` after an earlier, larger peak could never show the growth."""
    rss_before = rss_bytes(os.getpid())
    tracemalloc.start()
    try:
        result = run_snippet(
            "import sys\nchunk = b'x' * 1023 + b'\\n'\n"
            "for _ in range(50 * 1024): sys.stdout.buffer.write(chunk)"
        )
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = rss_bytes(os.getpid()) - rss_before

    assert result.status is ProcessStatus.COMPLETED
    assert result.stdout_path.stat().st_size == 50 * 1024 * 1024
    assert result.stdout_truncated and len(result.stdout_tail) == 64 * 1024
    assert traced_peak < 4 * 1024 * 1024, "the supervisor held output in memory"
    assert rss_growth < 10 * 1024 * 1024


def test_stdin_data_reaches_the_child(run_snippet: RunSnippet) -> None:
    result = run_snippet("import sys; print(sys.stdin.read().upper())", stdin_data=b"hello stdin")

    assert result.stdout_tail == "HELLO STDIN\n"


def test_stdin_data_the_child_never_reads_does_not_hang(run_snippet: RunSnippet) -> None:
    result = run_snippet("print('ignored stdin')", stdin_data=b"x" * (4 * 1024 * 1024))

    assert result.status is ProcessStatus.COMPLETED


def test_stdin_is_closed_without_data(run_snippet: RunSnippet) -> None:
    result = run_snippet("import sys; print(repr(sys.stdin.read()))")

    assert result.stdout_tail == "''\n"


def test_timeout_kills_a_child_that_ignores_sigterm(run_snippet: RunSnippet) -> None:
    result = run_snippet(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('ignoring TERM', flush=True)
        time.sleep(300)
        """,
        timeout_s=3.0,
        kill_grace_s=0.5,
    )

    assert result.status is ProcessStatus.TIMEOUT
    assert result.signal == signal.SIGKILL
    assert "timeout" in [e.kind for e in result.events]


def test_cancel_from_another_thread_kills_the_tree(run_snippet: RunSnippet, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    cancel = threading.Event()

    def cancel_when_ready() -> None:
        wait_until(lambda: pid_file.exists())
        cancel.set()

    canceller = threading.Thread(target=cancel_when_ready)
    canceller.start()
    result = run_snippet(
        f"""
        import subprocess, sys, time
        g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])
        open({str(pid_file)!r}, 'w').write(str(g.pid))
        time.sleep(300)
        """,
        cancel=cancel,
    )
    canceller.join()

    assert result.status is ProcessStatus.CANCELLED
    assert "cancelled" in [e.kind for e in result.events]


def test_missing_program_is_a_spawn_error(run_snippet: RunSnippet, use_cgroups: bool) -> None:
    result = run_snippet("", argv=["/nonexistent/program", "--x"], use_cgroups=use_cgroups)

    assert result.status is ProcessStatus.SPAWN_ERROR
    assert result.error is not None and "program not found" in result.error
    assert result.pid is None


def test_missing_working_directory_is_a_spawn_error(
    run_snippet: RunSnippet, tmp_path: Path
) -> None:
    result = run_snippet("print(1)", cwd=tmp_path / "nowhere")

    assert result.status is ProcessStatus.SPAWN_ERROR
    assert result.error is not None and "working directory" in result.error


def test_unwritable_run_dir_is_a_spawn_error(run_snippet: RunSnippet, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    result = run_snippet("print(1)", run_dir=blocker / "run")

    assert result.status is ProcessStatus.SPAWN_ERROR
    assert result.error is not None and "logs" in result.error


def test_concurrent_runs_from_several_threads(run_snippet: RunSnippet) -> None:
    results: dict[int, str] = {}

    def one(index: int) -> None:
        result = run_snippet(
            f"import subprocess, sys; print({index}); "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])"
        )
        results[index] = f"{result.status}:{result.stdout_tail.strip()}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {i: f"completed:{i}" for i in range(8)}


def test_events_reach_the_callback_and_a_failing_callback_is_harmless(
    run_snippet: RunSnippet,
) -> None:
    seen: list[ProcessEvent] = []

    def on_event(event: ProcessEvent) -> None:
        seen.append(event)
        raise RuntimeError("callback bug")

    result = run_snippet("print(1)", on_event=on_event)

    assert result.status is ProcessStatus.COMPLETED
    assert seen and seen[0].kind == "enforcement"
    assert seen[0].to_dict()["kind"] == "enforcement"


def test_argv_is_not_passed_through_a_shell(run_snippet: RunSnippet) -> None:
    result = run_snippet(
        "", argv=[sys.executable, "-c", "import sys; print(sys.argv[1])", "$HOME;"]
    )

    assert result.stdout_tail == "$HOME;\n"


def _spec(tmp_path: Path, name: str, code: str) -> ProcessSpec:
    return ProcessSpec(
        argv=[sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        run_dir=tmp_path / name,
        timeout_s=60,
        kill_grace_s=1.0,
    )


def test_shutdown_belongs_to_one_supervisor(tmp_path: Path) -> None:
    """Shutting one supervisor down stops its trees and later runs, and no one else's."""
    marker = tmp_path / "started"
    sleeper = f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"
    first, second = Supervisor(), Supervisor()
    results: dict[str, ProcessResult] = {}

    def run(name: str, supervisor: Supervisor, code: str) -> None:
        results[name] = supervisor.run(_spec(tmp_path, name, code))

    threads = [
        threading.Thread(target=run, args=("stopped", first, sleeper)),
        threading.Thread(target=run, args=("other", second, f"{sleeper.replace('started', 'b')}")),
    ]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: marker.exists() and (tmp_path / "b").exists())
    assert first.shutdown() == 1
    threads[0].join(timeout=30)
    assert results["stopped"].status is ProcessStatus.CANCELLED
    assert first.shut_down and not second.shut_down
    assert first.run(_spec(tmp_path, "later", "pass")).status is ProcessStatus.CANCELLED
    assert second.run(_spec(tmp_path, "beside", "pass")).status is ProcessStatus.COMPLETED
    assert Supervisor().run(_spec(tmp_path, "fresh", "pass")).status is ProcessStatus.COMPLETED
    assert run_process(_spec(tmp_path, "default", "pass")).status is ProcessStatus.COMPLETED
    assert second.shutdown() == 1
    threads[1].join(timeout=30)
    assert results["other"].status is ProcessStatus.CANCELLED
