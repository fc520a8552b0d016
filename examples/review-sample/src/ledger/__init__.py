"""A small ledger: amounts in integer cents, fair splits and plain-text reports."""

__version__ = "0.3.0"
