"""The provider-neutral model loop: one loop, any model API, any toolbox.

:func:`run_loop` asks a :class:`ModelClient` for a reply, runs the tool calls
it asks for through a :class:`Toolbox`, feeds the results back and stops at a
:class:`StopReason`: the model finished, a turn, token or dollar limit, an API
error (after the SDK's own retries), or cancellation. The adapters
:class:`~claude_pm.llm.anthropic.AnthropicClient` and
:class:`~claude_pm.llm.openai.OpenAIClient` (any OpenAI-compatible server)
import their SDK only when built. This package imports nothing from the tool
layer, the state or the process supervisor: it also runs inside agent
processes, with file tools as its toolbox.

Names are resolved on first access, so importing the package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.llm.anthropic import AnthropicClient
    from claude_pm.llm.client import (
        APIErrorKind,
        ModelAPIError,
        ModelClient,
        ModelSDKMissing,
    )
    from claude_pm.llm.loop import EventCallback, LoopConfig, run_loop
    from claude_pm.llm.openai import OpenAIClient
    from claude_pm.llm.pricing import ModelPrice, cost_usd, price_for
    from claude_pm.llm.providers import Provider
    from claude_pm.llm.toolbox import FunctionToolbox, Toolbox, ToolProgress
    from claude_pm.llm.types import (
        EventKind,
        FinishReason,
        LoopEvent,
        LoopResult,
        Message,
        ModelRequest,
        ModelResponse,
        OpaqueBlock,
        Role,
        StopReason,
        TextBlock,
        ToolCall,
        ToolOutcome,
        ToolResultBlock,
        ToolSpec,
        Usage,
    )

_EXPORTS = {
    "AnthropicClient": "claude_pm.llm.anthropic",
    "OpenAIClient": "claude_pm.llm.openai",
    **dict.fromkeys(
        ("APIErrorKind", "ModelAPIError", "ModelClient", "ModelSDKMissing"),
        "claude_pm.llm.client",
    ),
    "Provider": "claude_pm.llm.providers",
    **dict.fromkeys(("EventCallback", "LoopConfig", "run_loop"), "claude_pm.llm.loop"),
    **dict.fromkeys(("ModelPrice", "cost_usd", "price_for"), "claude_pm.llm.pricing"),
    **dict.fromkeys(("FunctionToolbox", "ToolProgress", "Toolbox"), "claude_pm.llm.toolbox"),
    **dict.fromkeys(
        (
            "EventKind",
            "FinishReason",
            "LoopEvent",
            "LoopResult",
            "Message",
            "ModelRequest",
            "ModelResponse",
            "OpaqueBlock",
            "Role",
            "StopReason",
            "TextBlock",
            "ToolCall",
            "ToolOutcome",
            "ToolResultBlock",
            "ToolSpec",
            "Usage",
        ),
        "claude_pm.llm.types",
    ),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claude_pm.llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "APIErrorKind",
    "AnthropicClient",
    "EventCallback",
    "EventKind",
    "FinishReason",
    "FunctionToolbox",
    "LoopConfig",
    "LoopEvent",
    "LoopResult",
    "Message",
    "ModelAPIError",
    "ModelClient",
    "ModelPrice",
    "ModelRequest",
    "ModelResponse",
    "ModelSDKMissing",
    "OpaqueBlock",
    "OpenAIClient",
    "Provider",
    "Role",
    "StopReason",
    "TextBlock",
    "ToolCall",
    "ToolOutcome",
    "ToolProgress",
    "ToolResultBlock",
    "ToolSpec",
    "Toolbox",
    "Usage",
    "cost_usd",
    "price_for",
    "run_loop",
]
