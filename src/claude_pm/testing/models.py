"""A scripted model for the loop of :mod:`claude_pm.llm`: test your own loops offline.

:class:`ScriptedModelClient` is an honest second
:class:`~claude_pm.llm.client.ModelClient`: it answers each request with the
next step of its script (a reply, a function of the request returning one,
or a :class:`~claude_pm.llm.client.ModelAPIError` to raise) and records every
request, so a test asserts what the loop sent::

    from claude_pm.llm import FunctionToolbox, LoopConfig, ToolOutcome, ToolSpec, run_loop
    from claude_pm.testing import ScriptedModelClient, reply, tool_call

    model = ScriptedModelClient([reply(tool_call("echo", {"text": "hi"})), reply("done")])
    echo = FunctionToolbox(
        [ToolSpec("echo", "Echo the text.", {"type": "object"})],
        lambda call, cancel, report: ToolOutcome(call.arguments["text"]),
    )
    result = run_loop("say hi", client=model, toolbox=echo, config=LoopConfig(model="m"))
    assert result.final_text == "done" and result.tool_calls == 1
    assert model.requests[1].messages[-1].content[0].content == "hi"

A request beyond the script raises :class:`ScriptExhausted` (an
AssertionError, which the loop does not catch), so the test fails loudly.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from claude_pm.llm.client import APIErrorKind, ModelAPIError
from claude_pm.llm.types import (
    ContentBlock,
    FinishReason,
    ModelRequest,
    ModelResponse,
    TextBlock,
    ToolCall,
    Usage,
)

#: One step of a script: a reply, a function of the request, or an error to raise.
Step = ModelResponse | ModelAPIError | Callable[[ModelRequest], ModelResponse]

_ids = itertools.count(1)


class ScriptExhausted(AssertionError):
    """The scripted model got a request its script has no step for."""


class ScriptedModelClient:
    """Answer each request with the next scripted step; keep every request in ``requests``."""

    def __init__(self, script: Iterable[Step] = ()) -> None:
        self._script: list[Step] = list(script)
        self._lock = threading.Lock()
        self.requests: list[ModelRequest] = []

    def add(self, *steps: Step) -> None:
        """Append steps to the script."""
        with self._lock:
            self._script.extend(steps)

    @property
    def remaining(self) -> int:
        """Steps not used yet."""
        with self._lock:
            return len(self._script)

    def create(self, request: ModelRequest) -> ModelResponse:
        with self._lock:
            self.requests.append(request)
            if not self._script:
                raise ScriptExhausted(
                    f"the scripted model got request {len(self.requests)}, "
                    "but its script has no step left"
                )
            step = self._script.pop(0)
        if isinstance(step, ModelAPIError):
            raise step
        if isinstance(step, ModelResponse):
            return step
        return step(request)


def tool_call(name: str, arguments: Mapping[str, Any], call_id: str | None = None) -> ToolCall:
    """A tool call block, with a fresh id unless one is given."""
    return ToolCall(call_id or f"call_{next(_ids):04d}", name, dict(arguments))


def reply(
    *content: str | ContentBlock,
    finish: FinishReason | None = None,
    input_tokens: int = 100,
    output_tokens: int = 20,
    usage: Usage | None = None,
    model: str = "scripted-model",
) -> ModelResponse:
    """A reply; strings become text blocks, ``finish`` defaults from the content.

    The finish reason is ``tool_use`` when the reply calls a tool, else ``end_turn``.
    """
    blocks = tuple(TextBlock(c) if isinstance(c, str) else c for c in content)
    if finish is None:
        has_call = any(isinstance(b, ToolCall) for b in blocks)
        finish = FinishReason.TOOL_USE if has_call else FinishReason.END_TURN
    return ModelResponse(
        content=blocks,
        finish_reason=finish,
        usage=usage or Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        model=model,
        raw_finish_reason=finish.value,
    )


def api_error(
    kind: APIErrorKind = APIErrorKind.RATE_LIMITED,
    message: str | None = None,
    *,
    status_code: int | None = None,
    retry_after_s: float | None = None,
) -> ModelAPIError:
    """A :class:`~claude_pm.llm.client.ModelAPIError` for a script step."""
    return ModelAPIError(
        message or f"scripted {kind.value} error",
        kind=kind,
        status_code=status_code,
        retry_after_s=retry_after_s,
        api="scripted model",
    )


__all__ = ["ScriptExhausted", "ScriptedModelClient", "Step", "api_error", "reply", "tool_call"]
