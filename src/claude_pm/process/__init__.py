"""Supervised execution of one OS process tree: spawn, stream, limit, measure, kill.

This package knows nothing about agents. Give it a :class:`ProcessSpec`, get a
:class:`ProcessResult`.
"""

from claude_pm.process.lifecycle import install_signal_handlers, kill_live_trees, request_shutdown
from claude_pm.process.supervisor import Supervisor, default_supervisor, run_process
from claude_pm.process.types import (
    Enforcement,
    EventKind,
    MemoryLimits,
    MemorySample,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
)

__all__ = [
    "Enforcement",
    "EventKind",
    "MemoryLimits",
    "MemorySample",
    "ProcessEvent",
    "ProcessResult",
    "ProcessSpec",
    "ProcessStatus",
    "Supervisor",
    "default_supervisor",
    "install_signal_handlers",
    "kill_live_trees",
    "request_shutdown",
    "run_process",
]
