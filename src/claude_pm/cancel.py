"""Cancellation as a small Protocol: anything with ``is_set()``.

Every layer that can stop work early (the supervisor, the runner, the model
loop, the workflow engine) takes a :class:`CancelToken` rather than a
``threading.Event``: an Event cannot move between processes (a Ray worker gets
its cancellation another way), and a caller may want to combine several
reasons to stop. ``threading.Event`` satisfies the Protocol as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable


@runtime_checkable
class CancelToken(Protocol):
    """Tells whether the work it was handed to should stop now."""

    def is_set(self) -> bool: ...


class AnyCancelled:
    """Set as soon as any of its tokens is set (``None`` entries are ignored)."""

    def __init__(self, tokens: Iterable[CancelToken | None]) -> None:
        self._tokens = tuple(t for t in tokens if t is not None)

    def is_set(self) -> bool:
        return any(token.is_set() for token in self._tokens)


__all__ = ["AnyCancelled", "CancelToken"]
