"""Agents: definitions, the registry, the runner (orchestrator side) and the executor (child side).

Kept import-free: the executor starts on every agent run.
"""
