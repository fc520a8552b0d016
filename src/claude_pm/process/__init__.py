"""Supervised execution of one OS process tree: spawn, stream, limit, measure, kill.

This package knows nothing about agents. Give it a :class:`ProcessSpec`, get a
:class:`ProcessResult`.
"""

from claude_pm.process.lifecycle import install_signal_handlers, kill_live_trees, request_shutdown
from claude_pm.process.reclaim import ReclaimedTree, TreeIdentity, kill_recorded_tree
from claude_pm.process.sandbox import SandboxSpec, protect_orchestrator, sandbox_support
from claude_pm.process.supervisor import Supervisor, default_supervisor, run_process
from claude_pm.process.types import (
    DEFAULT_PIDS_LIMIT,
    Enforcement,
    EventKind,
    MemoryLimits,
    MemorySample,
    ProcessEvent,
    ProcessResult,
    ProcessSpec,
    ProcessStatus,
    SandboxKind,
)

__all__ = [
    "DEFAULT_PIDS_LIMIT",
    "Enforcement",
    "EventKind",
    "MemoryLimits",
    "MemorySample",
    "ProcessEvent",
    "ProcessResult",
    "ProcessSpec",
    "ProcessStatus",
    "ReclaimedTree",
    "SandboxKind",
    "SandboxSpec",
    "Supervisor",
    "TreeIdentity",
    "default_supervisor",
    "install_signal_handlers",
    "kill_live_trees",
    "kill_recorded_tree",
    "protect_orchestrator",
    "request_shutdown",
    "run_process",
    "sandbox_support",
]
