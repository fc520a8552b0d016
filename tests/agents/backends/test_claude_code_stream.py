"""Reading Claude Code's stream-json: recorded sessions in, the report's facts out (no I/O)."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_pm.agents.backends.claude_code_stream import (
    Ended,
    Ending,
    ErrorKind,
    LineSplitter,
    StreamState,
    conclude,
    parse_line,
)
from fakes.claude_cli import STREAMS

NOW = 1_800_000_000.0


def recorded(name: str) -> list[dict[str, Any]]:
    text = (STREAMS / name).read_text(encoding="utf-8").replace("{session_id}", "s-1")
    return [json.loads(line) for line in text.splitlines()]


def fed(events: list[dict[str, Any]]) -> StreamState:
    state = StreamState(requested_model="asked-for")
    for event in events:
        state.feed(event, NOW)
    return state


def result(**fields: Any) -> dict[str, Any]:
    """A result event as Claude Code writes one (``subtype`` success, as it says for errors)."""
    return {"type": "result", "subtype": "success", "session_id": "s-1", "num_turns": 1, **fields}


def test_a_recorded_session_gives_model_usage_cost_turns_and_session() -> None:
    state = fed(recorded("success.jsonl"))
    assert state.result_failure() is None and not state.expects_more
    report = state.report(stop_reason=state.result_stop_reason())
    assert report.backend == "claude-code" and report.model == "claude-sonnet-5-5"
    assert report.session_id == "s-1" and report.turns == 2
    assert report.usage == {
        "input_tokens": 200,
        "output_tokens": 50,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    assert report.cost_usd == pytest.approx(0.0009) and report.stop_reason == "completed"


def test_background_work_means_more_results_follow_and_usage_adds_up() -> None:
    events = recorded("background.jsonl")
    first_result = next(i for i, e in enumerate(events) if e["type"] == "result")
    state = fed(events[: first_result + 1])
    assert state.expects_more, "a background task is still running after the first result"
    for event in events[first_result + 1 :]:
        state.feed(event, NOW)
    assert not state.expects_more and len(state.results) == 2
    assert state.turns == 3 and state.usage["input_tokens"] == 300
    assert state.cost_usd == pytest.approx(0.0012)


@pytest.mark.parametrize(
    ("events", "kind", "words"),
    [
        pytest.param(
            recorded("api_error.jsonl"), ErrorKind.API_ERROR, "(api_error, HTTP 500)", id="500"
        ),
        pytest.param(recorded("rate_limited.jsonl"), ErrorKind.RATE_LIMITED, "HTTP 429", id="429"),
        pytest.param(
            [result(is_error=True, terminal_reason="api_error", api_error_status=529, result="x")],
            ErrorKind.OVERLOADED,
            "HTTP 529",
            id="529",
        ),
        pytest.param(
            [
                {"type": "assistant", "error": "authentication_failed", "message": {}},
                result(
                    is_error=True,
                    terminal_reason="api_error",
                    api_error_status=401,
                    result="Invalid API key",
                ),
            ],
            ErrorKind.AUTHENTICATION,
            "Invalid API key",
            id="401",
        ),
        pytest.param(
            [
                {"type": "system", "subtype": "api_retry", "error_status": None},
                result(
                    is_error=True,
                    terminal_reason="api_error",
                    api_error_status=None,
                    api_error="connection_failed",
                    result="API Error: Connection refused",
                ),
            ],
            ErrorKind.CONNECTION,
            "Connection refused",
            id="refused",
        ),
        pytest.param(
            [result(is_error=True, subtype="error_max_turns", terminal_reason="max_turns")],
            None,
            "(max_turns)",
            id="max-turns-is-the-agent's-own",
        ),
    ],
)
def test_errors_are_classified_on_is_error_and_status_not_on_subtype(
    events: list[dict[str, Any]], kind: ErrorKind | None, words: str
) -> None:
    state = fed(events)
    assert state.last_result is not None and state.last_result["subtype"].startswith(
        ("success", "error_")
    )
    failure = state.result_failure()
    assert failure is not None
    message, found = failure
    assert found == kind and words in message


def test_rate_limit_events_keep_retry_after_and_reset_time() -> None:
    state = fed(recorded("rate_limited.jsonl"))
    window, retry, final = state.rate_limits
    assert window.reset_at == 4102444800 and window.retry_after_s == 4102444800 - NOW
    assert retry.retry_after_s == pytest.approx(0.603) and retry.at == NOW
    assert final.message is not None and final.message.startswith("HTTP 429, final: API Error")
    overloaded_end = result(is_error=True, api_error_status=529, result="Overloaded")
    assert [e.kind for e in fed([overloaded_end]).rate_limits] == ["overloaded"]
    assert fed([result(is_error=True, api_error_status=500)]).rate_limits == []
    allowed = {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed"}}
    warning = {
        "type": "rate_limit_event",
        "rate_limit_info": {"status": "allowed_warning", "utilization": 0.9},
    }
    state = fed([allowed, warning])
    [only] = state.rate_limits
    assert only.message == "usage limit allowed_warning, 90% used" and only.reset_at is None
    overloaded = {"type": "system", "subtype": "api_retry", "error_status": 529, "attempt": 2}
    assert fed([overloaded]).rate_limits[0].kind == "overloaded"
    server = {"type": "system", "subtype": "api_retry", "error_status": 500, "attempt": 1}
    assert fed([server]).rate_limits == []


def test_without_a_result_the_report_has_no_turns_and_the_requested_model() -> None:
    report = fed([]).report(error="gone", stop_reason=None)
    assert report.turns is None and report.model == "asked-for" and report.error == "gone"


@pytest.mark.parametrize("line", [b"", b"   ", b"not json", b"[1, 2]", b'"text"', b"{"])
def test_a_line_that_is_no_event_is_skipped(line: bytes) -> None:
    assert parse_line(line) is None


@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=12),
    trailing_newline=st.booleans(),
)
def test_lines_come_out_the_same_however_the_stream_is_chunked(
    lines: list[bytes], cuts: list[int], trailing_newline: bool
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    splitter = LineSplitter(max_line_bytes=1024)
    out: list[bytes] = []
    previous = 0
    for cut in sorted({c for c in cuts if c < len(data)}):
        out += splitter.feed(data[previous:cut])
        previous = cut
    out += splitter.feed(data[previous:])
    out += splitter.end()
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert out == expected


def test_a_line_longer_than_the_bound_is_dropped_whole_and_the_next_one_kept() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    assert splitter.feed(b"x" * 80) == []
    assert splitter.feed(b"x" * 80) == []  # over the bound: dropped, memory released
    assert splitter.feed(b"x" * 50 + b'\n{"type": "result"}\n') == [b'{"type": "result"}']
    assert splitter.dropped == 1 and splitter.end() == []


SUCCESS = recorded("success.jsonl")


@pytest.mark.parametrize(
    ("events", "ended", "exit_code", "die_of", "error"),
    [
        pytest.param(SUCCESS, Ended(returncode=0), 0, None, None, id="normal"),
        pytest.param(
            SUCCESS,
            Ended(ending=Ending.LINGERED, returncode=-9),
            0,
            None,
            None,
            id="lingered-then-killed-is-still-normal",
        ),
        pytest.param(
            SUCCESS[:1],
            Ended(stop_signal=signal.SIGTERM, ending=Ending.STOPPED, returncode=-15),
            1,
            signal.SIGTERM,
            "claude-pm stopped the session (SIGTERM",
            id="stopped",
        ),
        pytest.param(
            SUCCESS[:1],
            Ended(ending=Ending.IDLE, idle_timeout_s=90, returncode=-15),
            1,
            None,
            "wrote no event for 90 s",
            id="idle",
        ),
        pytest.param(
            SUCCESS[:1],
            Ended(returncode=2, stderr_line="Error: unknown option '--frobnicate'"),
            2,
            None,
            "exited with code 2 before its result: Error: unknown option '--frobnicate'",
            id="exit-code",
        ),
        pytest.param(
            [*SUCCESS, {"type": "system", "subtype": "init", "model": "m"}],
            Ended(returncode=-11, turn_open=True),
            1,
            signal.SIGSEGV,
            "killed by SIGSEGV during a follow-up turn",
            id="crash-in-follow-up",
        ),
        pytest.param([], Ended(returncode=0), 1, None, "without a result", id="no-result"),
    ],
)
def test_how_a_session_ended_decides_its_exit_and_error(
    events: list[dict[str, Any]],
    ended: Ended,
    exit_code: int,
    die_of: int | None,
    error: str | None,
) -> None:
    report, code, signum = conclude(fed(events), ended)
    assert (code, signum) == (exit_code, die_of)
    if error is None:
        assert report.error is None and report.stop_reason == "completed"
    else:
        assert report.error is not None and error in report.error
