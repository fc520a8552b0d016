"""Fixtures for the built-in agent tests: the sample project, an interpreter without tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from toolchain_support import SAMPLE


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of examples/review-sample per test module (tests that change it make their own)."""
    root = tmp_path_factory.mktemp("sample") / "review-sample"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An interpreter that has none of the tools: a virtual environment made without pip."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    assert python.exists()
    return str(python)
