"""One Claude Code session inside the executor: start it, read it, end it, report it.

:func:`run_session` is the ``claude-code`` backend's ``run``; the module
docstring of :mod:`.claude_code` tells the life of a session. This module is
its mechanics:

- The CLI runs as a plain child (``subprocess.Popen``, same session and
  cgroup), its standard input the prompt file, stdout and stderr pipes read
  in one ``select`` loop with the signal wake-up pipe, so nothing blocks and
  no thread is needed.
- Every stdout byte goes to ``claude-stream.jsonl``; each complete line is an
  event for :class:`~.claude_code_stream.StreamState`. Each result's text
  goes to our stdout; the CLI's stderr is passed through (its tail kept for
  the error message).
- Deadlines, all on the monotonic clock: the idle watchdog (no output for the
  idle timeout), the exit grace after a final result (:data:`EXIT_GRACE_S`),
  TERM to KILL (:data:`TERM_GRACE_S`; :data:`STOP_GRACE_S` when the
  supervisor is stopping us), and the drain after the CLI exited while a
  descendant still holds its pipes (:data:`DRAIN_S`).
- SIGTERM, SIGINT or SIGHUP (the supervisor's timeout or cancel) is passed on
  to the CLI; a report is written at once and again when the CLI is gone; the
  executor then dies of the same signal.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from claude_pm.agents.backends import claude_code as cc
from claude_pm.agents.backends.claude_code_stream import (
    BACKEND_NAME,
    Ended,
    Ending,
    LineSplitter,
    Outcome,
    StreamState,
    conclude,
    parse_line,
)
from claude_pm.agents.handoff import BackendReport

if TYPE_CHECKING:
    from claude_pm.agents.handoff import Handoff

STREAM_FILENAME = "claude-stream.jsonl"

#: After a result nothing follows, how long the CLI may take to exit by itself.
EXIT_GRACE_S = 2.0
#: Between TERM and KILL when claude-pm ends the session itself.
TERM_GRACE_S = 2.0
#: Between TERM and KILL when the supervisor is stopping the run (its own grace is longer).
STOP_GRACE_S = 1.0
#: After the CLI exited, how long a descendant holding its pipes may keep them open.
DRAIN_S = 1.0
#: The longest single stream line kept (anything longer is dropped, not parsed).
MAX_LINE_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024
_STDERR_TAIL_BYTES = 4096
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Events that mean the session is in a turn (a result closes it).
_TURN_EVENTS = frozenset({"assistant", "user", "stream_event", "tool_progress"})
_TURN_SYSTEM_EVENTS = frozenset({"init", "api_retry"})


def _say(message: str) -> None:
    print(f"claude-pm claude-code backend: {message}", file=sys.stderr, flush=True)


class Session:
    """One run of the CLI for one hand-off (see the module docstring)."""

    def __init__(self, handoff: Handoff) -> None:
        self.handoff = handoff
        self.session_id = str(uuid.uuid4())
        self.state = StreamState(session_id=self.session_id)
        self.idle_timeout_s = cc.idle_timeout_for(handoff)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self.ending: Ending | None = None
        self.kill_at: float | None = None
        self.killed = False
        self.final_at: float | None = None
        self.turn_open = True
        self.exited_at: float | None = None
        self.last_output_at = time.monotonic()
        self.results_written = 0
        self.stderr_tail = b""
        self.lines = LineSplitter(MAX_LINE_BYTES)
        self._stream: Any = None

    # -- the session --------------------------------------------------------------------

    def start(self, invocation: cc.Invocation, prompt_path: str) -> None:
        """Start the CLI. Raises :class:`cc.Refused` when it cannot be executed."""
        self.state.requested_model = invocation.model
        stream_path = os.path.join(self.handoff.run_dir, STREAM_FILENAME)  # noqa: PTH118
        self._stream = open(stream_path, "wb")  # noqa: PTH123, SIM115 - closed in run()
        with open(prompt_path, "rb") as stdin:  # noqa: PTH123
            try:
                self.proc = subprocess.Popen(
                    invocation.argv,
                    stdin=stdin,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=self.handoff.project_root,
                    env=cc.child_environment(os.environ),
                    close_fds=True,
                )
            except OSError as e:
                raise cc.Refused(
                    f"cannot run the Claude Code CLI {invocation.argv[0]!r}: {e}",
                    cc.EXIT_NOT_EXECUTABLE,
                ) from e
        self.last_output_at = time.monotonic()
        if self.stop_signal is not None:
            self._signal(self.stop_signal)

    def _signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)

    def on_stop_signal(self, signum: int, frame: object) -> None:
        """The supervisor is stopping the run: pass the signal on (the loop does the rest)."""
        self.stop_signal = signum
        self._signal(signum)

    def _terminate(self, ending: Ending, now: float, grace_s: float = TERM_GRACE_S) -> None:
        self.ending = ending
        self.kill_at = now + grace_s
        self._signal(signal.SIGTERM)

    def _check_deadlines(self, now: float) -> None:
        if self.stop_signal is not None and self.ending is not Ending.STOPPED:
            self.ending, self.kill_at = Ending.STOPPED, now + STOP_GRACE_S
            self.write(self.outcome()[0])  # the report exists even if we are killed next
        lingered = self.final_at is not None and now >= self.final_at + EXIT_GRACE_S
        if self.ending is None and lingered:
            _say(f"Claude Code was still running {EXIT_GRACE_S:g} s after its result; ending it")
            self._terminate(Ending.LINGERED, now)
        if self.ending is None and now >= self.last_output_at + self.idle_timeout_s:
            _say(f"Claude Code wrote nothing for {self.idle_timeout_s:g} s; ending it")
            self._terminate(Ending.IDLE, now)
        if self.kill_at is not None and now >= self.kill_at and not self.killed:
            self.killed = True
            self._signal(signal.SIGKILL)

    def _next_wake(self, now: float) -> float:
        due = [now + 1.0]
        if self.ending is None:  # once ending, only the KILL and the drain are due
            due.append(self.last_output_at + self.idle_timeout_s)
            if self.final_at is not None:
                due.append(self.final_at + EXIT_GRACE_S)
        if self.kill_at is not None and not self.killed:
            due.append(self.kill_at)
        if self.exited_at is not None:
            due.append(self.exited_at + DRAIN_S)
        return max(0.0, min(due) - now)

    def read(self, wake_fd: int | None) -> None:
        """Read the CLI's output until its pipes close (or it exited and the drain passed)."""
        assert self.proc is not None and self.proc.stdout is not None
        assert self.proc.stderr is not None
        out, err = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        open_fds = {out, err}
        while open_fds:
            now = time.monotonic()
            self._check_deadlines(now)
            if self.proc.poll() is not None:
                self.exited_at = self.exited_at or now
                if now >= self.exited_at + DRAIN_S:
                    break
            watched = [*open_fds, *([wake_fd] if wake_fd is not None else [])]
            ready, _, _ = select.select(watched, [], [], self._next_wake(now))
            for fd in ready:
                if fd == wake_fd:
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 512)
                    continue
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == out:
                    self._stdout(chunk, time.monotonic())
                else:
                    self._stderr(chunk)
        for line in self.lines.end():
            self._line(line, time.monotonic())

    def _stdout(self, chunk: bytes, now: float) -> None:
        self.last_output_at = now
        self._stream.write(chunk)
        self._stream.flush()
        dropped = self.lines.dropped
        for line in self.lines.feed(chunk):
            self._line(line, now)
        if self.lines.dropped > dropped:
            _say(f"dropped a stream line longer than {MAX_LINE_BYTES} bytes")

    def _stderr(self, chunk: bytes) -> None:
        self.stderr_tail = (self.stderr_tail + chunk)[-_STDERR_TAIL_BYTES:]
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()

    def _line(self, line: bytes, now: float) -> None:
        event = parse_line(line)
        if event is None:
            return
        if self.state.feed(event):
            self.turn_open = False
            self._show_result(event)
        elif event.get("type") in _TURN_EVENTS or (
            event.get("type") == "system" and event.get("subtype") in _TURN_SYSTEM_EVENTS
        ):
            self.turn_open = True
        final = bool(self.state.results) and not self.turn_open and not self.state.expects_more
        if not final:
            self.final_at = None
        elif self.final_at is None:
            self.final_at = now

    def _show_result(self, event: dict[str, Any]) -> None:
        text = event.get("result")
        if not isinstance(text, str) or not text.strip():
            return
        if event.get("is_error") is True:
            return  # the error goes to stderr and the report at the end
        separator = "\n" if self.results_written else ""
        out = sys.stdout.buffer
        out.write(f"{separator}{text.rstrip()}\n".encode())
        out.flush()
        self.results_written += 1

    def finish(self) -> None:
        """Make sure the CLI is gone (TERM, the grace, KILL) and reaped."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S if self.stop_signal else TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
        self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    # -- the outcome --------------------------------------------------------------------

    def outcome(self) -> Outcome:
        """The report, the exit code, and the signal to die of (see :func:`conclude`)."""
        lines = self.stderr_tail.decode("utf-8", "replace").strip().splitlines()
        ended = Ended(
            stop_signal=self.stop_signal,
            ending=self.ending,
            idle_timeout_s=self.idle_timeout_s,
            returncode=self.proc.returncode if self.proc is not None else None,
            turn_open=self.turn_open,
            stderr_line=lines[-1].strip() if lines else "",
        )
        return conclude(self.state, ended)

    def write(self, report: BackendReport) -> None:
        try:
            report.write(self.handoff.result_file)
        except OSError as e:
            _say(f"cannot write the report {self.handoff.result_file!r}: {e}")


@contextlib.contextmanager
def _stop_signals_to(session: Session) -> Iterator[int | None]:
    """Route SIGTERM/SIGINT/SIGHUP to the session while it runs; yields the wake-up fd."""
    try:
        previous = {s: signal.signal(s, session.on_stop_signal) for s in _STOP_SIGNALS}
    except ValueError:  # not the main thread: the supervisor's KILL is the only stop
        yield None
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        yield read_fd
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read_fd)
        os.close(write_fd)


def _die_of(signum: int) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    if signum != signal.SIGKILL:
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    return 128 + signum  # pragma: no cover - the signal ends the process


def run_session(handoff: Handoff) -> int:
    """The ``claude-code`` backend's ``run``: the session, its report, its exit code."""
    session = Session(handoff)
    try:
        invocation, prompt_path = cc.prepare(handoff, session.session_id)
    except (cc.Refused, OSError) as e:
        exit_code = e.exit_code if isinstance(e, cc.Refused) else cc.EXIT_CONFIG
        message = e.message if isinstance(e, cc.Refused) else f"cannot prepare the session: {e}"
        _say(message)
        session.write(BackendReport(backend=BACKEND_NAME, error=message))
        return exit_code
    for note in invocation.notes:
        _say(note)
    die_signal: int | None = None
    try:
        with _stop_signals_to(session) as wake_fd:
            try:
                session.start(invocation, prompt_path)
                session.read(wake_fd)
            finally:
                session.finish()
                if session._stream is not None:
                    session._stream.close()
            report, exit_code, die_signal = session.outcome()
            session.write(report)  # still under our handlers: a late SIGTERM waits for it
    except cc.Refused as e:
        _say(e.message)
        report, exit_code = session.state.report(error=e.message, stop_reason=None), e.exit_code
        session.write(report)
    except BaseException as e:
        session.write(session.state.report(error=f"the backend failed: {e!r}", stop_reason=None))
        raise
    if report.error and die_signal is None:
        _say(report.error)
    return _die_of(die_signal) if die_signal is not None else exit_code


__all__ = [
    "DRAIN_S",
    "EXIT_GRACE_S",
    "STOP_GRACE_S",
    "STREAM_FILENAME",
    "TERM_GRACE_S",
    "Session",
    "run_session",
]
