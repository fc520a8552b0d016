"""Task attempts as Ray tasks, each under claude-pm's own supervisor on the node that got it.

The life of one attempt:

1. The engine prepares and starts it on the driver (the hand-off is written
   into the run directory, the run recorded as running), then calls
   :meth:`RayExecutor.submit`.
2. ``submit`` refuses what could never run without asking Ray to try: an
   attempt whose memory limit is more than any live node of the cluster has
   would wait in Ray's queue forever, so it comes back at once as a
   ``spawn_error`` that names the largest node. Otherwise it submits one Ray
   task that asks for the memory limit as Ray's ``memory`` resource (Ray
   admits it only where it fits) and ``task_num_cpus`` CPUs, and that Ray
   never retries (the engine decides retries: an agent's side effects must
   not run twice behind its back).
3. On the worker, :func:`~claude_pm.workflow.executors.ray_task.run_attempt`
   runs ``prepared.spec`` under a :class:`~claude_pm.process.Supervisor` of
   its own (the memory limit, the timeout and the tree kills hold on that
   node as they do locally), turns Ray's non-forcing cancel into the
   supervisor's cancel token, checks the node is clean, extracts the tickets
   where the log is, and returns a :class:`Launch`: the
   :class:`~claude_pm.process.ProcessResult` (status, peak memory, the logs'
   tails...), the tickets, the node's name. A forcing cancel would SIGKILL
   the worker, supervisor included, and orphan the agent's tree: this
   executor never sends one.
4. On the driver, one thread watches every attempt in flight: it sends the
   non-forcing cancel for an attempt whose token is set and resolves each
   future with its ``Launch``. An attempt cancelled before a worker started
   it comes back ``cancelled`` with nothing measured. Ray does not stream a
   task's progress: the attempt's events reach ``on_progress`` when it ends.
   A Ray failure (the worker or its node died, claude-pm missing on the
   worker) fails the future with a :class:`~claude_pm.errors.ProcessError`.

Several nodes: the driver writes the hand-off into the run directory and
the worker writes the logs and ``result.json`` there, which the driver then
reads; the agent works in the project. A multi-node cluster therefore needs
the project and claude-pm's state directory at the same paths on every node
(a shared filesystem), and claude-pm installed at the same interpreter path
(the spec runs ``sys.executable -m claude_pm.agents.executor``). Shipping a
copy with the task is not done; a node that does not see them refuses the
attempt (``spawn_error``, naming the node and the path).

Ray is imported here and only here (an import contract checks it), and only
when a :class:`RayExecutor` is built.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claude_pm.errors import InvalidInput, NotAvailable, ProcessError
from claude_pm.process import ProcessResult, ProcessSpec, ProcessStatus
from claude_pm.process.memory import MB
from claude_pm.workflow.executors.base import Launch, TaskExecutor
from claude_pm.workflow.executors.ray_task import not_run, run_attempt

if TYPE_CHECKING:
    from claude_pm.agents.values import PreparedRun, ProgressCallback
    from claude_pm.cancel import CancelToken

log = logging.getLogger(__name__)

#: Object store of a local Ray started here: results are small values, not data sets.
LOCAL_OBJECT_STORE_BYTES = 128 * MB
#: How long the driver's watcher waits on Ray before looking at the cancel tokens again.
POLL_INTERVAL_S = 0.05


class RayExecutor:
    """Runs prepared attempts as Ray tasks; thread-safe.

    Args:
        address: ``None`` starts a local Ray here (``num_cpus`` CPUs, no
            dashboard, its files in a temporary directory) that
            :meth:`shutdown` stops; ``"auto"`` or ``"ray://host:port"``
            connects to a running cluster (``shutdown`` only disconnects). If
            this process is already connected to Ray, that connection is used
            and left alone.
        num_cpus: CPUs of the local Ray (default: this machine's count);
            only for ``address=None``.
        task_num_cpus: CPUs each attempt asks Ray for (fractions allowed:
            agents mostly wait on a model, so ``0.25`` runs four per CPU).

    Raises:
        NotAvailable: Ray is not installed (``pip install 'claude-pm[ray]'``).
        InvalidInput: ``num_cpus`` with an address, or ``task_num_cpus``
            that no node of the cluster has.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        task_num_cpus: float = 1.0,
    ) -> None:
        if address is not None and num_cpus is not None:
            raise InvalidInput(
                f"num_cpus applies to a local Ray started here, not to the cluster at "
                f"{address!r} (it has its own): drop num_cpus or the address.",
                field="num_cpus",
            )
        if not task_num_cpus > 0:
            raise InvalidInput(
                f"task_num_cpus must be above 0, got {task_num_cpus!r}.",
                field="task_num_cpus",
                expected="a number above 0",
            )
        self._ray = _import_ray()
        self.task_num_cpus = float(task_num_cpus)
        self._temp_dir: str | None = None
        self._owns_connection = not self._ray.is_initialized()
        if self._owns_connection:
            self._connect(address, num_cpus)
        self._remote = self._ray.remote(_attempt_on_worker)
        self._largest_memory_bytes = 0.0
        self._check_cpus()
        self._lock = threading.Condition()
        self._in_flight: dict[Any, _InFlight] = {}
        self._closing = False
        self._cancel_all = False
        self._stopped = False
        self._watcher: threading.Thread | None = None

    def _connect(self, address: str | None, num_cpus: int | None) -> None:
        ray = self._ray
        if address is not None:
            log.info("connecting to the Ray cluster at %s", address)
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            return
        cpus = num_cpus if num_cpus is not None else max(1, os.cpu_count() or 1)
        # Short on purpose: Ray's sockets live under it and a socket path is limited to 107 bytes.
        self._temp_dir = tempfile.mkdtemp(prefix="claude-pm-ray-")
        log.info("starting a local Ray with %d CPUs in %s", cpus, self._temp_dir)
        try:
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                namespace="claude-pm",
                _temp_dir=self._temp_dir,
            )
        except BaseException:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            raise

    def _check_cpus(self) -> None:
        most = max((n["Resources"].get("CPU", 0.0) for n in self._alive_nodes()), default=0.0)
        if self.task_num_cpus > most:
            self._disconnect()
            raise InvalidInput(
                f"task_num_cpus is {self.task_num_cpus:g}, but no node of the Ray cluster has "
                f"more than {most:g} CPUs: ask for at most {most:g}.",
                field="task_num_cpus",
                expected=f"at most {most:g}",
            )

    def _alive_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self._ray.nodes() if n.get("Alive")]

    # -- submitting -----------------------------------------------------------------------

    def submit(
        self,
        prepared: PreparedRun,
        *,
        cancel: CancelToken,
        on_progress: ProgressCallback | None = None,
    ) -> Future[Launch]:
        """Start the attempt as a Ray task; the future resolves when its tree is gone.

        An attempt no node could admit resolves at once as ``spawn_error``; one
        submitted after :meth:`shutdown`, or already cancelled, as ``cancelled``.
        The future fails (:class:`~claude_pm.errors.ProcessError`) only when
        Ray itself lost the task.
        """
        future: Future[Launch] = Future()
        future.set_running_or_notify_cancel()
        refused = self._refusal(prepared, cancel)
        if refused is not None:
            future.set_result(refused)
            return future
        options: dict[str, Any] = {
            "num_cpus": self.task_num_cpus,
            "max_retries": 0,
            "name": f"claude-pm {prepared.definition.agent_type} {prepared.run_id}",
        }
        if (limit := _memory_bytes(prepared.spec)) is not None:
            options["memory"] = limit
        with self._lock:
            if self._closing:
                future.set_result(not_run(prepared.spec, ProcessStatus.CANCELLED, _SHUT_DOWN))
                return future
            ref = self._remote.options(**options).remote(prepared)
            self._in_flight[ref] = _InFlight(prepared, cancel, on_progress, future)
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="claude-pm ray watcher", daemon=True
                )
                self._watcher.start()
            self._lock.notify_all()
        log.info("run %s: submitted to Ray", prepared.run_id)
        return future

    def _refusal(self, prepared: PreparedRun, cancel: CancelToken) -> Launch | None:
        """The attempt's outcome when it must not reach Ray at all, else None."""
        spec = prepared.spec
        if self._closing:
            return not_run(spec, ProcessStatus.CANCELLED, _SHUT_DOWN)
        if cancel.is_set():
            return not_run(spec, ProcessStatus.CANCELLED, "cancelled before it was submitted")
        limit = _memory_bytes(spec)
        if limit is None or limit <= self._largest_memory_bytes:
            return None
        # The cluster may have grown since the last look: look again before refusing.
        nodes = self._alive_nodes()
        largest = max((n["Resources"].get("memory", 0.0) for n in nodes), default=0.0)
        self._largest_memory_bytes = largest
        if limit <= largest:
            return None
        error = (
            f"no node of the Ray cluster can admit a memory limit of "
            f"{spec.memory.hard_limit_mb:g} MB: the largest has {largest / MB:.0f} MB for tasks "
            f"({len(nodes)} live nodes); lower memory_limit or add a bigger node"
        )
        log.warning("run %s: %s", prepared.run_id, error)
        return not_run(spec, ProcessStatus.SPAWN_ERROR, error)

    # -- watching -------------------------------------------------------------------------

    def _watch(self) -> None:
        """The watcher thread: until nothing is in flight and no more can come."""
        try:
            self._watch_in_flight()
        except Exception as e:
            # Ray itself failed under us (shut down by someone else, the cluster gone):
            # no future may be left waiting.
            log.exception("the Ray watcher failed")
            with self._lock:
                stranded = list(self._in_flight.values())
                self._in_flight.clear()
                self._watcher = None
                self._lock.notify_all()
            for attempt in stranded:
                attempt.future.set_exception(self._lost(attempt, e))

    def _watch_in_flight(self) -> None:
        ray = self._ray
        while True:
            with self._lock:
                while not self._in_flight and not self._closing:
                    self._lock.wait()
                if not self._in_flight:
                    return
                attempts = dict(self._in_flight)
                cancel_all = self._cancel_all
            for ref, attempt in attempts.items():
                if not attempt.cancel_sent and (cancel_all or attempt.cancel.is_set()):
                    attempt.cancel_sent = True
                    log.info("run %s: cancelling its Ray task", attempt.prepared.run_id)
                    # Never force: that SIGKILLs the worker and orphans the agent's tree.
                    ray.cancel(ref, force=False)
            # Back as soon as one is ready (not after the interval), then take all that are.
            ready, waiting = ray.wait(list(attempts), num_returns=1, timeout=POLL_INTERVAL_S)
            if ready and waiting:
                ready += ray.wait(waiting, num_returns=len(waiting), timeout=0)[0]
            for ref in ready:
                with self._lock:
                    self._in_flight.pop(ref, None)
                    self._lock.notify_all()
                self._resolve(ref, attempts[ref])

    def _resolve(self, ref: Any, attempt: _InFlight) -> None:
        spec = attempt.prepared.spec
        try:
            launch: Launch = self._ray.get(ref)
        except self._ray.exceptions.TaskCancelledError:
            launch = not_run(spec, ProcessStatus.CANCELLED, "cancelled before a Ray worker ran it")
        except Exception as e:
            attempt.future.set_exception(self._lost(attempt, e))
            return
        if attempt.on_progress is not None:
            _replay(attempt.on_progress, launch.process)
        log.info(
            "run %s: %s on Ray node %s", attempt.prepared.run_id, launch.process.status, launch.node
        )
        attempt.future.set_result(launch)

    def _lost(self, attempt: _InFlight, cause: Exception) -> ProcessError:
        """The error of an attempt whose result Ray could not give back."""
        run_id = attempt.prepared.run_id
        error = ProcessError(
            f"Ray lost the task of run {run_id} ({type(cause).__name__}: "
            f"{str(cause).strip()[:500]}). If its worker died, the agent's processes may be left "
            "on that node; check that claude-pm is installed on every node and that the node is "
            "healthy, then run the task again.",
            run_id=run_id,
            executor=self.name,
            cause=type(cause).__name__,
        )
        error.__cause__ = cause
        return error

    # -- stopping -------------------------------------------------------------------------

    def shutdown(self, *, cancel: bool) -> None:
        """Refuse new attempts; with ``cancel``, cancel the running ones; wait for all of them.

        Then stop the local Ray this executor started (or disconnect from the
        cluster it connected to). Safe to call twice.
        """
        with self._lock:
            self._closing = True
            self._cancel_all = self._cancel_all or cancel
            futures = [a.future for a in self._in_flight.values()]
            watcher = self._watcher
            self._lock.notify_all()
        for future in futures:
            with contextlib.suppress(Exception):
                future.exception()
        if watcher is not None:
            watcher.join()
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._disconnect()

    def _disconnect(self) -> None:
        if not self._owns_connection:
            return
        started = time.monotonic()
        self._ray.shutdown()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        log.info("Ray shut down in %.1f s", time.monotonic() - started)


@dataclass
class _InFlight:
    prepared: PreparedRun
    cancel: CancelToken
    on_progress: ProgressCallback | None
    future: Future[Launch]
    cancel_sent: bool = False


_SHUT_DOWN = "the Ray executor was shut down before the attempt started"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise NotAvailable(
            f"The Ray executor needs Ray, which is not installed here ({e}): install it with "
            "pip install 'claude-pm[ray]', or run workflows on the local executor.",
            feature="ray",
        ) from e
    return ray


def _memory_bytes(spec: ProcessSpec) -> int | None:
    """The attempt's hard memory limit in bytes: what it asks Ray for."""
    limit_mb = spec.memory.hard_limit_mb
    return None if limit_mb is None else math.ceil(limit_mb * MB)


def _replay(on_progress: ProgressCallback, process: ProcessResult) -> None:
    from claude_pm.agents.runner import progress_of

    for event in process.events:
        try:
            on_progress(progress_of(event))
        except Exception:
            log.exception("on_progress callback failed for %s", event.kind)


def _attempt_on_worker(prepared: PreparedRun) -> Launch:
    """The Ray task (pickled by reference: the worker imports this module, then Ray)."""
    import ray

    node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:12]}"
    return run_attempt(prepared, node)


if TYPE_CHECKING:

    def _is_a_task_executor(executor: RayExecutor) -> TaskExecutor:
        return executor  # mypy checks that RayExecutor satisfies the Protocol


__all__ = ["RayExecutor"]
