"""What the loop runs tools with: the :class:`Toolbox` Protocol, and one made of a function.

A toolbox knows its tools (the :class:`~claude_pm.llm.types.ToolSpec` values
the model is shown) and, given the tool calls of one turn, returns one
:class:`~claude_pm.llm.types.ToolOutcome` per call, in the calls' order. It
never raises for a failing call: the failure is an outcome with ``is_error``
set, so the model can read it and fix its call. The PM's toolbox runs the
four claude-pm tools through a handler; an agent backend's runs file tools.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from claude_pm.cancel import CancelToken
from claude_pm.llm.types import ToolCall, ToolOutcome, ToolSpec

log = logging.getLogger(__name__)

#: ``on_progress(call, message, done, total)``: a long call's progress; numbers may be None.
ToolProgress = Callable[[ToolCall, str, float | None, float | None], None]

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class Toolbox(Protocol):
    """The tools of a loop, and how to run the calls of one turn."""

    @property
    def tools(self) -> Sequence[ToolSpec]: ...

    def run_calls(
        self,
        calls: Sequence[ToolCall],
        *,
        max_parallel: int,
        cancel: CancelToken | None,
        on_progress: ToolProgress | None,
    ) -> Sequence[ToolOutcome]:
        """One outcome per call, in order; at most ``max_parallel`` calls at a time."""
        ...


def run_concurrently(
    function: Callable[[_In], _Out], items: Sequence[_In], max_parallel: int
) -> list[_Out]:
    """``function`` over ``items``, ``max_parallel`` at a time; results in the items' order."""
    if len(items) <= 1 or max_parallel <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(max_parallel, len(items))) as pool:
        return list(pool.map(function, items))


def invalid_arguments_message(call: ToolCall) -> str:
    """What to tell the model about a call whose arguments are not a JSON object."""
    problem = call.argument_error or "tool input is not a JSON object"
    return f"Invalid arguments for {call.name}: {problem}. Send the arguments as a JSON object."


def invalid_arguments_outcome(call: ToolCall) -> ToolOutcome:
    """The outcome for a call whose arguments are not a JSON object."""
    return ToolOutcome(f"Error: {invalid_arguments_message(call)}", is_error=True)


#: ``function(call, cancel, report)`` runs one call; ``report(message, done, total)``: progress.
ToolFunction = Callable[
    [ToolCall, CancelToken | None, Callable[[str, float | None, float | None], None]],
    ToolOutcome,
]


class FunctionToolbox:
    """A toolbox made of tool specs and one function that runs a call.

    Calls with unparsable arguments, calls to a tool not in ``tools`` and
    calls whose function raises become error outcomes; the others get what
    the function returned.
    """

    def __init__(self, tools: Sequence[ToolSpec], function: ToolFunction) -> None:
        self._tools = tuple(tools)
        self._names = {t.name for t in self._tools}
        self._function = function

    @property
    def tools(self) -> Sequence[ToolSpec]:
        return self._tools

    def run_calls(
        self,
        calls: Sequence[ToolCall],
        *,
        max_parallel: int,
        cancel: CancelToken | None,
        on_progress: ToolProgress | None,
    ) -> Sequence[ToolOutcome]:
        def run(call: ToolCall) -> ToolOutcome:
            if call.arguments is None:
                return invalid_arguments_outcome(call)
            if call.name not in self._names:
                known = ", ".join(sorted(self._names)) or "(none)"
                return ToolOutcome(
                    f"Error: Unknown tool {call.name!r}. Use one of: {known}.", is_error=True
                )

            def report(message: str, done: float | None = None, total: float | None = None) -> None:
                if on_progress is not None:
                    on_progress(call, message, done, total)

            try:
                return self._function(call, cancel, report)
            except Exception as e:
                log.exception("tool %s raised", call.name)
                return ToolOutcome(
                    f"Error: {call.name} failed: {type(e).__name__}: {e}", is_error=True
                )

        return run_concurrently(run, list(calls), max_parallel)


__all__ = [
    "FunctionToolbox",
    "ToolFunction",
    "ToolProgress",
    "Toolbox",
    "invalid_arguments_message",
    "invalid_arguments_outcome",
    "run_concurrently",
]
