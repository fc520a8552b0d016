"""The contract with the model: the four tool definitions and the one handler."""

from claude_pm.tools.handler import ClaudeToolHandler
from claude_pm.tools.schemas import CLAUDE_PM_TOOLS

__all__ = ["CLAUDE_PM_TOOLS", "ClaudeToolHandler"]
