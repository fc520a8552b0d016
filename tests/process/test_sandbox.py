"""The sandbox: what an agent can no longer see or touch, and the orchestrator's own protection.

Needs bubblewrap; ``scripts/test.sh`` installs it where it can (root and apt).
Each test says why when it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from claude_pm.process import (
    ProcessSpec,
    ProcessStatus,
    SandboxKind,
    SandboxSpec,
    Supervisor,
    sandbox_support,
)

pytestmark = pytest.mark.sandbox

needs_bwrap = pytest.mark.skipif(
    not sandbox_support().available,
    reason=f"no sandbox on this machine: {sandbox_support().reason}",
)

#: What a sandboxed child reports about its world, as JSON on stdout.
PROBE = """
import json, os, socket, sys
facts = {"pid": os.getpid(), "ppid": os.getppid(), "tmpdir": os.environ.get("TMPDIR")}
facts["proc_pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "ok"
    except OSError as e:
        return e.strerror
facts["write_project"] = try_write(os.path.join(sys.argv[1], "inside.txt"))
facts["write_outside"] = try_write(os.path.join(sys.argv[2], "outside.txt"))
facts["write_tmp"] = try_write(os.path.join(os.environ.get("TMPDIR", "/tmp"), "t.txt"))
try:
    with open("/proc/%s/environ" % sys.argv[3], "rb") as f:
        facts["orchestrator_environ"] = "readable"
except OSError as e:
    facts["orchestrator_environ"] = e.strerror
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[4])), timeout=5).close()
    facts["loopback"] = "ok"
except OSError as e:
    facts["loopback"] = type(e).__name__
print(json.dumps(facts))
"""


@pytest.fixture
def listener() -> object:
    """A TCP listener on 127.0.0.1 that accepts connections until the test ends."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()


def _probe(tmp_path: Path, port: int, sandbox: SandboxSpec | None) -> dict[str, object]:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir(exist_ok=True)
    outside.mkdir(exist_ok=True)
    run_dir = tmp_path / "run"
    spec = ProcessSpec(
        argv=[sys.executable, "-c", PROBE, str(project), str(outside), str(os.getpid()), str(port)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=project,
        run_dir=run_dir,
        timeout_s=60,
        sandbox=sandbox,
    )
    result = Supervisor().run(spec)
    assert result.status is ProcessStatus.COMPLETED, result.stderr_tail
    facts: dict[str, object] = json.loads(result.stdout_tail)
    facts["sandbox"] = result.sandbox
    facts["events"] = [e.kind for e in result.events]
    return facts


@needs_bwrap
def test_a_sandboxed_tree_sees_only_itself_and_writes_only_where_allowed(
    tmp_path: Path, listener: int
) -> None:
    project, run_dir = tmp_path / "project", tmp_path / "run"
    project.mkdir()
    spec = SandboxSpec(writable=(project, run_dir), tmp_dir=run_dir / "tmp")
    facts = _probe(tmp_path, listener, spec)
    assert facts["sandbox"] is SandboxKind.BWRAP
    assert "sandbox" in facts["events"]
    # A PID namespace of its own: no ancestor is visible, the orchestrator least of all.
    assert os.getpid() not in facts["proc_pids"]  # type: ignore[operator]
    assert len(facts["proc_pids"]) <= 4  # type: ignore[arg-type]
    assert facts["orchestrator_environ"] != "readable"
    assert facts["write_project"] == "ok"
    assert facts["write_outside"] == "Read-only file system"
    assert facts["write_tmp"] == "ok" and facts["tmpdir"] == str(run_dir / "tmp")
    assert not (tmp_path / "outside" / "outside.txt").exists()
    assert facts["loopback"] == "ok"


@needs_bwrap
def test_without_network_even_loopback_is_gone(tmp_path: Path, listener: int) -> None:
    project = tmp_path / "project"
    project.mkdir()
    facts = _probe(tmp_path, listener, SandboxSpec(writable=(project,), network=False))
    assert facts["sandbox"] is SandboxKind.BWRAP
    assert facts["loopback"] != "ok"


def test_without_a_sandbox_spec_nothing_changes(tmp_path: Path, listener: int) -> None:
    facts = _probe(tmp_path, listener, None)
    assert facts["sandbox"] is SandboxKind.NONE
    assert os.getpid() in facts["proc_pids"]  # type: ignore[operator]
    assert facts["write_outside"] == "ok"


ORCHESTRATOR = """
import json, sys
from pathlib import Path
from claude_pm.process import ProcessSpec, SandboxSpec, Supervisor
run_dir = Path(sys.argv[1])
spec = ProcessSpec(argv=[sys.executable, "-c", "print('ran')"], env={"PATH": "/usr/bin:/bin"},
    cwd=run_dir.parent, run_dir=run_dir, timeout_s=30,
    sandbox=SandboxSpec(writable=(run_dir,), required=sys.argv[2] == "required"))
result = Supervisor().run(spec)
print(json.dumps({"status": result.status.value, "sandbox": result.sandbox.value,
                  "error": result.error, "stdout": result.stdout_tail}))
"""


@pytest.mark.parametrize("mode", ["required", "auto"])
def test_a_machine_without_a_sandbox(tmp_path: Path, mode: str) -> None:
    """Required: an error that says what to do, nothing runs. Auto: runs as is, says so."""
    bin_dir = tmp_path / "bin"  # a PATH with Python but no bwrap
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    out = subprocess.run(
        [sys.executable, "-c", ORCHESTRATOR, str(tmp_path / "run"), mode],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["sandbox"] == "none"
    if mode == "required":
        assert report["status"] == "spawn_error"
        assert "requires a sandbox" in report["error"]
        assert "bubblewrap" in report["error"]
        assert report["stdout"] == ""
    else:
        assert report["status"] == "completed"
        assert report["stdout"] == "ran\n"


PEEKER = """
import json, os, sys
from pathlib import Path
from claude_pm.process import ProcessSpec, Supervisor
peek = "try:\\n open('/proc/%d/environ' % {pid}, 'rb').read(); print('readable')\\n"
peek += "except OSError as e:\\n print(e.strerror)\\n"
run_dir = Path(sys.argv[1])
spec = ProcessSpec(argv=[sys.executable, "-c", peek.format(pid=os.getpid())],
    env={"PATH": "/usr/bin:/bin"}, cwd=run_dir.parent, run_dir=run_dir, timeout_s=30,
    use_cgroups=False)
print(Supervisor().run(spec).stdout_tail.strip())
"""


SETPRIV = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _unprivileged_python() -> str | None:
    """An interpreter (3.11+) that user 65534 can run and that can run itself again."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    check = (
        "import ctypes, subprocess, sys; assert sys.version_info >= (3, 11); "
        "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); "
        "subprocess.run([sys.executable, '-c', 'pass'], check=True)"
    )
    for candidate in dict.fromkeys(["/usr/bin/python3", sys.executable]):
        done = subprocess.run(
            [*SETPRIV, candidate, "-c", check], capture_output=True, timeout=30, check=False
        )
        if done.returncode == 0:
            return candidate
    return None


@pytest.fixture
def shared_dir() -> object:
    """A directory user 65534 can reach (pytest's tmp_path sits under a root-only 0700 dir)."""
    path = Path(tempfile.mkdtemp(prefix="claude-pm-dumpable-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_orchestrator_is_not_dumpable_for_its_own_user(shared_dir: Path) -> None:
    """An agent of the same non-root user cannot read the orchestrator's environment.

    Run as an unprivileged user (root reads everything, so root proves nothing);
    the control shows the same read succeeds from an unprotected parent.
    """
    python = _unprivileged_python()
    if python is None:
        pytest.skip("needs root, setpriv and a Python 3.11+ that user 65534 can run")
    work = shared_dir
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    out = subprocess.run(
        [*SETPRIV, python, "-c", PEEKER, str(work / "run")],
        env={**env, "CLAUDE_PM_SECRET_FOR_TEST": "s3cret"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Permission denied"
    control = subprocess.run(
        [
            *SETPRIV,
            python,
            "-c",
            "import subprocess, sys\n"
            "peek = \"import os; open('/proc/%d/environ' % os.getppid(), 'rb').read(); "
            "print('readable')\"\n"
            "print(subprocess.run([sys.executable, '-c', peek], capture_output=True, "
            "text=True).stdout.strip())\n",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert control.stdout.strip() == "readable", control.stderr
