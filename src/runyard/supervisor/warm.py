"""Warm supervisors: one process that has imported the supervisor and MLflow once, and forks a
run's supervisor whenever it is asked to.

A sweep runs many short trials, each an ordinary run with its own supervisor. Started cold,
every supervisor spends about three seconds of CPU importing MLflow and its SQL store, which on
a small machine costs more than a short trial's work. A sweep's controller starts one of these instead
(`python -m runyard.supervisor.warm <workspace>`) and writes a run id per line on its stdin;
for each, this process forks (twice, in a new session, so the supervisor outlives both it and
the controller exactly like one started cold) and answers `started <run id> <its pid>` on its
stdout (`failed <run id>` when it could not).

The parent stays single-threaded and never opens a store: a forked supervisor opens its own
registry and MLflow connections, as a cold one does. Whoever asks falls back to a cold start
when this process is gone (WarmSupervisors.start returns False).
"""

from __future__ import annotations

import gc
import os
import select
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from runyard.runs.paths import RunPaths

READY = "ready"


def preload() -> None:
    """Everything a supervisor imports on its way to Completed (MLflow's client, its SQL
    store and migrations check, the artifact repositories), imported once, here."""
    import alembic.command  # noqa: F401  (the store checks its schema with alembic)
    import alembic.runtime.migration  # noqa: F401
    import alembic.script  # noqa: F401
    import mlflow.store.artifact.artifact_repository_registry  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401

    import runyard.runs.ingest  # noqa: F401
    import runyard.supervisor.main  # noqa: F401


def serve(workspace_dir: str, requests, answers) -> None:
    """Fork a supervisor for each run id read from `requests` until it closes."""
    gc.freeze()  # what was imported stays shared with the children (no copy on write by gc)
    for line in requests:
        run_id = line.strip()
        if not run_id:
            continue
        pid = _fork_supervisor(workspace_dir, run_id,
                               RunPaths(Path(workspace_dir) / "runs" / run_id).supervisor_log)
        if pid:
            print(f"Forked the supervisor of {run_id} (pid {pid}).", file=sys.stderr, flush=True)
        answers.write(f"started {run_id} {pid}\n" if pid else f"failed {run_id}\n")
        answers.flush()


def _fork_supervisor(workspace_dir: str, run_id: str, log_path: Path) -> int:
    """Fork, in a new session, a process that runs the supervisor of `run_id` and is nobody's
    child (it outlives this one, as a cold start does); returns its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as told:
            pid = int(told.read() or b"0")
        os.waitpid(middle, 0)  # it exits as soon as the supervisor is forked
        return pid
    code = 1
    try:
        os.close(read_end)
        os.setsid()
        # (Opened before the second fork: a run without a folder is answered "failed".)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        supervisor = os.fork()
        if supervisor:
            os.write(write_end, str(supervisor).encode())
            os._exit(0)
        os.close(write_end)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 256)  # the pipes to the controller are not the supervisor's
        from runyard.supervisor.main import main

        code = main([workspace_dir, run_id])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001  the reason goes to the run's supervisor log
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class WarmSupervisors:
    """The controller's handle on a warm-supervisor process, started at once. The first trials
    wait for it to be ready (up to STARTUP_WAIT after it started): it imports what each cold
    supervisor would import too, and on a small machine doing that work twice or thrice at
    once delays everything. Once it is gone, every trial starts cold."""

    STARTUP_WAIT = 5.0
    ANSWER_WAIT = 10.0  # seconds a fork may take before this process counts as stuck

    def __init__(self, ws, env: dict[str, str], log_path: Path):
        self.ws = ws
        self._lock = threading.Lock()
        self._started = time.monotonic()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runyard.supervisor.warm", str(ws.folder)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                cwd=str(ws.folder), text=True, bufsize=1, close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._requests, self._answers = self.proc.stdin, self.proc.stdout
        self.ready = False
        self._settled = threading.Event()  # ready, or gone
        threading.Thread(target=self._await_ready, name="warm-supervisors", daemon=True).start()

    def _await_ready(self) -> None:
        self.ready = self._answers.readline().strip() == READY
        self._settled.set()

    def start(self, run_id: str) -> bool:
        """Fork the run's supervisor; False when this process is not ready or is gone (the
        caller starts one cold)."""
        self._settled.wait(max(0.0, self._started + self.STARTUP_WAIT - time.monotonic()))
        if not self.ready:
            return False
        with self._lock:
            try:
                self._requests.write(run_id + "\n")
                self._requests.flush()
                answered, _, _ = select.select([self._answers], [], [], self.ANSWER_WAIT)
                answer = self._answers.readline().strip() if answered else ""
            except (OSError, ValueError):
                answer = ""
        if answer.startswith(f"started {run_id} "):
            return True
        if not answer.startswith("failed "):
            # Gone or stuck: every later trial starts cold. (Had it forked this one's
            # supervisor after all, the cold one finds the run claimed and leaves.)
            self.ready = False
            self.proc.kill()
        return False

    def close(self) -> None:
        try:
            self._requests.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str]) -> int:
    (workspace_dir,) = argv
    preload()
    if threading.active_count() != 1:  # forking a threaded process could copy a held lock
        print("runyard.supervisor.warm: a thread was started while importing; not forking.",
              file=sys.stderr, flush=True)
        return 1
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    serve(workspace_dir, sys.stdin, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
