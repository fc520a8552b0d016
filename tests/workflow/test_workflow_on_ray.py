"""``workflow run --executor ray``: the engine runs a workflow's attempts on a local Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml
from wf_support import ECHO, by_id, workflow

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(find_spec("ray") is None, reason="Ray is not installed"),
]


def test_a_workflow_runs_on_ray_from_the_cli(
    project: Path, write_agent: Any, tmp_path: Path
) -> None:
    write_agent("echo", ECHO)
    path = tmp_path / "wf.yaml"
    path.write_text(
        yaml.safe_dump(
            workflow(
                {"id": "a", "agent_type": "echo", "task": "alpha", "writes": []},
                {"id": "b", "agent_type": "echo", "task": "beta", "dependencies": ["a"]},
            )
        )
    )
    home = tmp_path / "ray-home"  # Ray keeps its auth token under ~/.ray
    home.mkdir()

    done = subprocess.run(
        [sys.executable, "-m", "claude_pm", "--project", str(project), "workflow", "run",
         str(path), "--executor", "ray", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOME": str(home), "CLAUDE_PM_SANDBOX": "off"},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["executor"] == "ray" and result["completed_tasks"] == 2
    tasks = by_id(result)
    # The worker extracted b's ticket where the log is; the driver filed it.
    assert tasks["b"]["tickets_created_count"] == 1
    assert '"a"' in tasks["b"]["output"]
