"""Workflows: dependency graphs of agent tasks (arrives with the workflows issue)."""
