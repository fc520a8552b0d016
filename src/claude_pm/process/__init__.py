"""Supervised execution of one OS process tree: spawn, stream, limit, measure, kill.

This package knows nothing about agents. Give it a :class:`ProcessSpec`, get a
:class:`ProcessResult`.
"""

from claude_pm.process.lifecycle import install_signal_handlers, kill_live_trees, request_shutdown
from claude_pm.process.supervisor import run_process
from claude_pm.process.types import (
    Enforcement,
    MemoryLimits,
    MemorySample,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
)

__all__ = [
    "Enforcement",
    "MemoryLimits",
    "MemorySample",
    "ProcessEvent",
    "ProcessResult",
    "ProcessSpec",
    "ProcessStatus",
    "install_signal_handlers",
    "kill_live_trees",
    "request_shutdown",
    "run_process",
]
