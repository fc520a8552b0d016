"""The provider-neutral values of the model loop: messages, tool calls, usage, results.

A conversation is a tuple of :class:`Message` values, each a role and content
blocks: :class:`TextBlock`, :class:`ToolCall` (the model asks for a tool),
:class:`ToolResultBlock` (what the tool answered) and :class:`OpaqueBlock`
(a provider's block the loop does not interpret, such as a thinking block,
sent back to that provider unchanged). The adapters in
:mod:`claude_pm.llm.anthropic` and :mod:`claude_pm.llm.openai` translate them
to and from each wire format; nothing here knows a provider.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claude_pm.llm.client import ModelAPIError


class Role(StrEnum):
    """Who wrote a message. Tool results travel in ``user`` messages."""

    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class TextBlock:
    """Text written by the user or the model."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for, whatever the provider.

    ``arguments`` is ``None`` when the provider sent something that is not a
    JSON object; ``argument_error`` then says what was wrong, and
    ``raw_arguments`` keeps the text as the model wrote it, so the turn can be
    sent back unchanged.
    """

    call_id: str
    name: str
    arguments: Mapping[str, Any] | None
    argument_error: str | None = None
    raw_arguments: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ToolResultBlock:
    """What a tool answered to the call ``call_id``: text for the model, and whether it failed."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class OpaqueBlock:
    """A content block of one provider the loop keeps but does not read (thinking, server tools).

    ``data`` is the block in ``provider``'s wire format; other providers' adapters drop it.
    """

    provider: str
    data: Mapping[str, Any]


ContentBlock = TextBlock | ToolCall | ToolResultBlock | OpaqueBlock


@dataclass(frozen=True)
class Message:
    """One message of the conversation."""

    role: Role
    content: tuple[ContentBlock, ...]

    @classmethod
    def user_text(cls, text: str) -> Message:
        return cls(Role.USER, (TextBlock(text),))

    @property
    def text(self) -> str:
        """The message's text blocks joined, stripped."""
        return "\n".join(b.text for b in self.content if isinstance(b, TextBlock)).strip()

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [b for b in self.content if isinstance(b, ToolCall)]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it: a name, what it does, and the JSON Schema of its input."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True)
class ToolOutcome:
    """A tool's answer to one call: the text the model reads, whether it failed, and the data.

    ``data`` is the structured result (a handler's dict, say) recorded in the
    ``tool_result`` event; the model only ever sees ``content``.
    """

    content: str
    is_error: bool = False
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens a provider reported, with the Anthropic field names (summed over a run by ``+``).

    ``input_tokens`` counts only the input read at the full price: tokens read
    from or written to the prompt cache are in the two ``cache_*`` fields.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total_tokens": self.total_tokens}


class FinishReason(StrEnum):
    """Why one model reply ended (the provider's ``stop_reason`` / ``finish_reason``)."""

    END_TURN = "end_turn"
    TOOL_USE = "tool_use"
    MAX_TOKENS = "max_tokens"
    PAUSE_TURN = "pause_turn"
    REFUSAL = "refusal"
    OTHER = "other"


@dataclass(frozen=True)
class ModelRequest:
    """One request to a model: everything a :class:`~claude_pm.llm.client.ModelClient` sends."""

    model: str
    system_prompt: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]
    max_output_tokens: int


@dataclass(frozen=True)
class ModelResponse:
    """One reply: its content, why it ended, the tokens it cost and the model that wrote it.

    ``raw_finish_reason`` is the provider's own word, kept for the transcript.
    """

    content: tuple[ContentBlock, ...]
    finish_reason: FinishReason
    usage: Usage
    model: str
    raw_finish_reason: str | None = None


class StopReason(StrEnum):
    """Why a loop run stopped.

    ``end_turn``: the model finished (its last text is the answer).
    ``max_turns``: the turn limit was reached. ``token_budget`` / ``budget_usd``:
    the run used more tokens or dollars than allowed. ``max_tokens``: a reply
    was cut off at the output limit. ``refusal``: the model declined.
    ``api_error``: the model API failed after the SDK's retries.
    ``cancelled``: the cancel token was set, or the process was interrupted.
    """

    END_TURN = "end_turn"
    MAX_TURNS = "max_turns"
    TOKEN_BUDGET = "token_budget"
    BUDGET_USD = "budget_usd"
    MAX_TOKENS = "max_tokens"
    REFUSAL = "refusal"
    API_ERROR = "api_error"
    CANCELLED = "cancelled"


#: Stop reasons that mean a limit the caller set was reached.
LIMIT_STOPS = frozenset({StopReason.MAX_TURNS, StopReason.TOKEN_BUDGET, StopReason.BUDGET_USD})


@dataclass(frozen=True)
class LoopResult:
    """How a loop run ended. ``final_text`` is the model's last text (its answer or report).

    ``cost_usd`` is None when the model's price is unknown. ``error`` is the
    API error that ended a run stopped with ``api_error``. ``messages`` is the
    whole conversation, to inspect or to continue.
    """

    stop_reason: StopReason
    final_text: str
    turns: int
    tool_calls: int
    tool_errors: int
    usage: Usage
    cost_usd: float | None
    model: str
    message: str | None = None
    error: ModelAPIError | None = field(default=None, compare=False)
    messages: tuple[Message, ...] = field(default=(), compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the model finished its turn."""
        return self.stop_reason is StopReason.END_TURN

    def to_dict(self) -> dict[str, Any]:
        return {
            "stop_reason": self.stop_reason.value,
            "ok": self.ok,
            "message": self.message,
            "final_text": self.final_text,
            "model": self.model,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "tool_errors": self.tool_errors,
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
        }


class EventKind(StrEnum):
    """What happened in a loop run, in the order a run emits them."""

    GOAL = "goal"
    ASSISTANT_TEXT = "assistant_text"
    TOOL_CALL = "tool_call"
    TOOL_PROGRESS = "tool_progress"
    TOOL_RESULT = "tool_result"
    USAGE = "usage"
    API_ERROR = "api_error"
    STOP = "stop"


@dataclass(frozen=True)
class LoopEvent:
    """One thing that happened in turn ``turn`` (0 before the first request).

    ``data`` is JSON-able. The ``stop`` event also carries the run's
    :class:`LoopResult` as ``result`` (not part of :meth:`to_dict`).
    """

    kind: EventKind
    turn: int
    data: Mapping[str, Any]
    at_s: float = field(default_factory=time.time)
    result: LoopResult | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "turn": self.turn, "at": round(self.at_s, 3), **self.data}


__all__ = [
    "LIMIT_STOPS",
    "ContentBlock",
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
]
