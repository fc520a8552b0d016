"""A tiny inventory package for the claude-pm demo."""
