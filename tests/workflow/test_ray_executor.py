"""The Ray executor against a local Ray: real workers, real supervised trees, real SQLite.

One local Ray (2 CPUs) serves the whole module: starting it costs seconds.
Ray keeps its own processes (raylet, GCS, workers) alive between tests, so the
Ray tests are marked ``allow_leftovers`` and check precisely instead: no
process of the test's attempts is left (none carries its run id in its
environment, the pids the agent reported are dead, its cgroups are gone),
and, at the end of the module, every process Ray started is gone after the
executor's shutdown.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from claude_pm.agents.handoff import ENV_RUN_ID
from claude_pm.agents.registry import AgentRegistry
from claude_pm.agents.runner import AgentRunner
from claude_pm.agents.values import AgentRequest, AgentResult, PreparedRun
from claude_pm.config import load_settings
from claude_pm.errors import InvalidInput
from claude_pm.process import EventKind, ProcessStatus
from claude_pm.process.cgroups import all_run_dirs, cgroup_support
from claude_pm.state import Database
from claude_pm.testing import write_python_agent
from claude_pm.workflow.executors.base import Launch
from waiting import alive, wait_for

needs_ray = pytest.mark.skipif(
    find_spec("ray") is None, reason="Ray is not installed: pip install 'claude-pm[ray]'"
)


def ray_test(test: Callable[..., None]) -> Callable[..., None]:
    """A test on the module's local Ray: slow, and it checks leftovers itself."""
    for mark in (needs_ray, pytest.mark.ray, pytest.mark.slow, pytest.mark.allow_leftovers):
        test = mark(test)
    return test


# The agent (the executor exec'd it: the supervised process) and its child; above them, the
# Ray worker whose supervisor started the agent. It reports who is who, then waits.
TREE = """
import json, os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
pids = {"agent": os.getpid(), "grandchild": grandchild.pid, "worker": os.getppid()}
name = sys.stdin.read().strip() + ".json"
with open(name + ".tmp", "w") as f:
    json.dump(pids, f)
os.replace(name + ".tmp", name)
print("tree up", flush=True)
time.sleep(300)
"""


# A grandchild that escapes its supervisor on purpose: it leaves the run's cgroups, drops the
# supervisor's token from its environment (keeping the rest) and forks a process born outside
# them, never seen by the supervisor.
ESCAPE = '''
import os, subprocess, sys
mover = """
import os, time
from claude_pm.process.cgroups import cgroup_support
support = cgroup_support()
for group in [support.v2_dir, *support.v1_dirs.values()]:
    if group is not None and group.name.startswith("claude-pm-"):
        (group.parent / "cgroup.procs").write_text(str(os.getpid()))
escapee = os.fork()
if escapee == 0:
    os.setsid()
    quiet = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(quiet, fd)
    time.sleep(300)
    os._exit(0)
print(escapee, flush=True)
"""
env = {k: v for k, v in os.environ.items() if k != "CLAUDE_PM_PROCESS_TOKEN"}
out = subprocess.run([sys.executable, "-c", mover], env=env, capture_output=True, text=True)
print("escaped", out.stdout.strip(), out.stderr.strip(), flush=True)
'''


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A RayExecutor that started the module's local Ray; its shutdown must stop all of Ray."""
    import psutil

    from claude_pm.workflow.executors.ray import RayExecutor

    home = tmp_path_factory.mktemp("ray-home")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))  # Ray keeps its auth token under ~/.ray
        ray_executor = RayExecutor(num_cpus=2)
    yield ray_executor
    ray_processes = [p.pid for p in psutil.Process().children(recursive=True)]
    ray_processes = [pid for pid in ray_processes if pid not in before]
    ray_executor.shutdown(cancel=True)
    wait_for(
        lambda: not any(alive(pid) for pid in ray_processes),
        f"Ray's processes {ray_processes} to be gone after the executor's shutdown",
    )
    for pid in ray_processes:  # Ray's zombies that re-parented to pytest (a subreaper)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    import ray

    assert not ray.is_initialized()


@pytest.fixture
def runner(project: Path) -> AgentRunner:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "CLAUDE_PM_SANDBOX": "off"}
    settings = load_settings(project_root=project, environ=env)
    return AgentRunner(settings, AgentRegistry.from_settings(settings), Database(settings.db_path))


def prepare(runner: AgentRunner, agent: str, task: str = "go", **limits: Any) -> PreparedRun:
    prepared = runner.prepare(AgentRequest(agent, task, timeout_s=120, **limits))
    runner.start(prepared)
    return prepared


def finish(runner: AgentRunner, prepared: PreparedRun, launch: Launch) -> AgentResult:
    return runner.finish(prepared, launch.process, 0.0, tickets_found=launch.tickets_found)


def attempt_left(*prepared: PreparedRun) -> list[int]:
    """Live processes that carry one of the attempts' run ids in their environment."""
    from claude_pm.workflow.executors.ray_task import marked_processes

    return [pid for p in prepared for pid in marked_processes(f"{ENV_RUN_ID}={p.run_id}")]


def groups_of(worker_pid: int) -> list[Path]:
    """The cgroups that the supervisor in Ray worker ``worker_pid`` made and left."""
    prefix = f"claude-pm-{worker_pid}-"
    return [p for p in all_run_dirs(cgroup_support()) if p.name.startswith(prefix)]


def read_pids(path: Path) -> dict[str, int]:
    wait_for(path.exists, f"the agent to write {path.name}")
    pids: dict[str, int] = json.loads(path.read_text())
    return pids


# -- without Ray ---------------------------------------------------------------------------


def test_importing_the_executor_module_does_not_import_ray() -> None:
    code = (
        "import sys; import claude_pm.workflow.executors.ray; "
        "print('ray' in sys.modules, 'claude_pm.agents.runner' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_without_ray_building_the_executor_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from claude_pm.errors import NotAvailable\n"
        "from claude_pm.workflow.executors.ray import RayExecutor\n"
        "try:\n    RayExecutor()\n"
        "except NotAvailable as e:\n    print(e.feature, '|', e.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    feature, message = out.stdout.split(" | ")
    assert feature == "ray"
    assert "pip install 'claude-pm[ray]'" in message


def test_num_cpus_is_refused_for_a_cluster_that_has_its_own() -> None:
    from claude_pm.workflow.executors.ray import RayExecutor

    with pytest.raises(InvalidInput, match="drop num_cpus or the address") as caught:
        RayExecutor(address="auto", num_cpus=2)
    assert caught.value.field == "num_cpus"


# -- on the module's local Ray ---------------------------------------------------------------


@ray_test
def test_an_attempt_on_ray_comes_back_completed_with_output_memory_and_tickets(
    executor: Any, runner: AgentRunner, project: Path
) -> None:
    write_python_agent(
        project,
        "finder",
        "import sys\nprint('looked at', sys.stdin.read())\n"
        "print('BUG: crash on empty input')\nprint('TODO: test the worker')\n",
    )
    prepared = prepare(runner, "finder", "the parser")

    launch = executor.submit(prepared, cancel=threading.Event()).result(timeout=60)
    result = finish(runner, prepared, launch)

    assert result.status is ProcessStatus.COMPLETED, result.summary()
    assert "looked at the parser" in result.process.stdout_tail
    assert result.process.peak_rss_bytes > 0
    assert launch.node  # where it ran
    # Extracted on the worker, filed by the driver.
    assert launch.tickets_found is not None
    assert [t.title for t in launch.tickets_found] == ["crash on empty input", "test the worker"]
    assert result.tickets.created_ids == ("PM-1", "PM-2")
    assert runner.runs.get(prepared.run_id).status == "completed"  # type: ignore[union-attr]
    assert attempt_left(prepared) == []


@ray_test
def test_an_attempt_over_its_memory_limit_is_killed_on_the_worker(
    executor: Any, runner: AgentRunner, project: Path
) -> None:
    write_python_agent(
        project,
        "hog",
        "import os\nprint(os.getppid(), flush=True)\nblocks = []\n"
        "while True:\n    blocks.append(bytearray(20 * 1024 * 1024))\n",
    )
    prepared = prepare(runner, "hog", memory_limit_mb=100)

    launch = executor.submit(prepared, cancel=threading.Event()).result(timeout=60)
    result = finish(runner, prepared, launch)

    assert result.status is ProcessStatus.MEMORY_EXCEEDED, result.summary()
    assert launch.process.enforcement.value in ("cgroup_v2", "cgroup_v1", "rlimit", "sampling")
    limits = [e for e in launch.process.events if e.kind is EventKind.MEMORY_LIMIT]
    assert limits and limits[0].data["source"] in ("kernel", "sampling")
    assert "exceeded its memory limit of 100 MB" in result.summary()
    assert attempt_left(prepared) == []


@ray_test
def test_a_cancelled_attempt_leaves_no_process_on_the_worker(
    executor: Any, runner: AgentRunner, project: Path
) -> None:
    import ray

    write_python_agent(project, "tree", TREE)
    prepared = prepare(runner, "tree", "cancelled", memory_limit_mb=200)
    cancel = threading.Event()

    future = executor.submit(prepared, cancel=cancel)
    pids = read_pids(project / "cancelled.json")
    # While it runs, Ray holds the attempt's memory limit as its `memory` resource.
    wait_for(
        lambda: (
            ray.cluster_resources()["memory"] - ray.available_resources().get("memory", 0)
            >= 200 * 1024 * 1024
        ),
        "Ray to account the attempt's memory limit",
    )
    cancel.set()
    launch = future.result(timeout=60)

    assert launch.process.status is ProcessStatus.CANCELLED
    assert launch.process.pid == pids["agent"]  # measured by the supervisor, not made up
    assert "tree up" in launch.process.stdout_tail
    assert not alive(pids["agent"])
    assert not alive(pids["grandchild"])
    assert attempt_left(prepared) == []
    assert groups_of(pids["worker"]) == []
    # The cancel did not force: the worker (and so its supervisor) lived to clean up.
    assert alive(pids["worker"])
    assert finish(runner, prepared, launch).status is ProcessStatus.CANCELLED


@ray_test
@pytest.mark.skipif(not cgroup_support().any, reason="escaping needs the run's cgroups to leave")
def test_a_process_that_escaped_its_supervisor_is_found_and_killed_on_the_node(
    executor: Any, runner: AgentRunner, project: Path
) -> None:
    write_python_agent(project, "escaper", ESCAPE)
    prepared = prepare(runner, "escaper")

    launch = executor.submit(prepared, cancel=threading.Event()).result(timeout=60)

    assert launch.process.status is ProcessStatus.COMPLETED, launch.process.stderr_tail
    escapee = int(launch.process.stdout_tail.split()[1])
    swept = [e for e in launch.process.events if e.kind is EventKind.ESCAPED_PROCESSES]
    assert len(swept) == 1, launch.process.events
    assert "after its supervisor returned: killed" in swept[0].message
    assert escapee in swept[0].data["pids"]
    assert swept[0].data["alive"] == []
    assert swept[0].data["node"] == launch.node
    wait_for(lambda: not alive(escapee), "the escapee to be gone")
    assert attempt_left(prepared) == []


@ray_test
def test_a_memory_limit_no_node_has_is_refused_at_once(
    executor: Any, runner: AgentRunner, project: Path
) -> None:
    write_python_agent(project, "greedy", "print('never runs')")
    prepared = prepare(runner, "greedy", memory_limit_mb=10_000_000)

    future = executor.submit(prepared, cancel=threading.Event())

    assert future.done()  # refused, not queued behind an infeasible Ray resource
    launch = future.result()
    assert launch.process.status is ProcessStatus.SPAWN_ERROR
    assert "no node of the Ray cluster can admit a memory limit of 1e+07 MB" in str(
        launch.process.error
    )
    result = finish(runner, prepared, launch)
    assert "could not be started" in result.summary()
    assert runner.runs.get(prepared.run_id).status == "spawn_error"  # type: ignore[union-attr]


@ray_test
def test_shutdown_with_cancel_stops_running_and_queued_attempts_and_refuses_new_ones(
    executor: Any, runner: AgentRunner, project: Path
) -> None:
    import ray

    from claude_pm.workflow.executors.ray import RayExecutor

    write_python_agent(project, "tree", TREE)
    # Each attempt takes both CPUs: the second waits in Ray's queue behind the first.
    own = RayExecutor(task_num_cpus=2)  # on the module's Ray, which it does not own
    running = prepare(runner, "tree", "running")
    queued = prepare(runner, "tree", "queued")
    first = own.submit(running, cancel=threading.Event())
    pids = read_pids(project / "running.json")
    second = own.submit(queued, cancel=threading.Event())

    own.shutdown(cancel=True)

    assert first.result(timeout=0).process.status is ProcessStatus.CANCELLED
    assert first.result().process.pid == pids["agent"]
    never = second.result(timeout=0).process
    assert never.status is ProcessStatus.CANCELLED
    assert never.pid is None and "before a Ray worker ran it" in str(never.error)
    assert not (project / "queued.json").exists()
    late = own.submit(prepare(runner, "tree", "late"), cancel=threading.Event())
    assert late.result(timeout=0).process.status is ProcessStatus.CANCELLED
    assert not alive(pids["agent"])
    assert not alive(pids["grandchild"])
    assert attempt_left(running, queued) == []
    assert ray.is_initialized()  # the module's Ray is not this executor's to stop
