"""The framework version, kept apart so the agent executor can read it without importing more."""

__version__ = "0.1.0"
