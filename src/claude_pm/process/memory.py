"""Resident memory of a tree, read from ``/proc/<pid>/statm`` (about 2 µs a process).

Shared pages are counted once per process that maps them, so the sum is an
upper bound of what the tree really holds: the safe side for a limit.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from claude_pm.process.types import EventKind, MemoryLimits, MemorySample

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident bytes of one process; 0 when it is gone."""
    try:
        fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
    except OSError:
        return 0
    try:
        fields = os.read(fd, 256).split()
        return int(fields[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0
    finally:
        os.close(fd)


def tree_rss_bytes(pids: Iterable[int]) -> tuple[int, int]:
    """(sum of resident bytes, number of processes that had memory) over ``pids``."""
    total = counted = 0
    for pid in pids:
        rss = rss_bytes(pid)
        if rss:
            total += rss
            counted += 1
    return total, counted


@dataclass(frozen=True)
class Threshold:
    """One level to watch: the event kind and its byte count."""

    kind: EventKind
    limit_bytes: int


def thresholds(limits: MemoryLimits) -> list[Threshold]:
    """The warning, critical and hard levels that are set, lowest first."""
    levels = [
        (EventKind.MEMORY_WARNING, limits.effective_warning_mb),
        (EventKind.MEMORY_CRITICAL, limits.effective_critical_mb),
        (EventKind.MEMORY_LIMIT, limits.hard_limit_mb),
    ]
    found = [Threshold(kind, int(mb * MB)) for kind, mb in levels if mb is not None]
    return sorted(found, key=lambda t: t.limit_bytes)


class SampleLog:
    """Memory samples kept within ``capacity``: when full, every other one is dropped
    and only every second new one is kept, so a long run keeps an even overview."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.samples: list[MemorySample] = []
        self.peak_bytes = 0
        self._stride = 1
        self._seen = 0

    def add(self, sample: MemorySample) -> None:
        self.peak_bytes = max(self.peak_bytes, sample.rss_bytes)
        self._seen += 1
        if self._seen % self._stride:
            return
        self.samples.append(sample)
        if len(self.samples) >= self.capacity:
            self.samples = self.samples[::2]
            self._stride *= 2
