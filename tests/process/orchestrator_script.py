"""A tiny orchestrator for the exit-path tests: ``orchestrator_script.py RUN_DIR MODE CGROUPS``.

It runs one supervised child that starts a grandchild; both write their pids
to ``RUN_DIR/pids`` and sleep. MODE:

* ``main``: run_process in the main thread; the test signals this process.
* ``thread``: run_process in a worker thread the main thread joins; signalled.
* ``main-default``: like ``main`` but without install_signal_handlers (SIGINT
  is Python's own KeyboardInterrupt).
* ``daemon``: run_process in a daemon thread; the main thread returns as soon
  as the pids are written, so only the atexit hook can stop the tree.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from claude_pm.process import ProcessSpec, install_signal_handlers, run_process

CHILD = """
import os, subprocess, sys, time
pids = sys.argv[1]
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(pids + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
os.replace(pids + ".tmp", pids)
time.sleep(300)
"""


def main() -> None:
    run_dir, mode, cgroups = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    if mode != "main-default":
        install_signal_handlers()
    spec = ProcessSpec(
        argv=[sys.executable, "-c", CHILD, str(run_dir / "pids")],
        env=dict(os.environ),
        cwd=run_dir,
        run_dir=run_dir / "run",
        timeout_s=120,
        kill_grace_s=1.0,
        use_cgroups=cgroups,
    )

    def run() -> None:
        result = run_process(spec)
        (run_dir / "status").write_text(str(result.status))

    if mode in ("main", "main-default"):
        run()
    elif mode == "thread":
        worker = threading.Thread(target=run)
        worker.start()
        try:
            worker.join()
        except (KeyboardInterrupt, SystemExit):
            # An interrupted join() may let the interpreter exit before the worker has
            # written its result: join again, as a program that waits for its workers does.
            worker.join()
            raise
    else:
        threading.Thread(target=run, daemon=True).start()
        deadline = time.monotonic() + 60
        while not (run_dir / "pids").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


if __name__ == "__main__":
    main()
