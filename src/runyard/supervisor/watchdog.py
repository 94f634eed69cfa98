"""`python -m runyard.supervisor.watchdog <workspace dir> <run id>`: outlives a supervisor that
is killed, to stop what the supervisor started and finish the run.

The supervisor starts it first thing, in a session of its own, with a pipe on its standard
input, and tells it through that pipe what the job's processes are ("procs <pid>:<start time>
..." as they change, "sessions <sid> ..."). When the supervisor ends normally it writes
"done". When the pipe closes without that, the supervisor died (SIGKILL, the OOM killer): the
watchdog kills every process it was told of and every process of the job's sessions, then
finishes the run's bookkeeping (finalize.finish_abandoned). Nothing of the job outlives its
supervisor by more than a moment, whether or not anybody is looking at the run.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): with the
    pid, it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


def _in_sessions(sessions: set[int]) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getsid(int(name)) in sessions:
                    found.append(int(name))
            except OSError:
                continue
    return found


def kill_job(procs: dict[int, str], sessions: set[int]) -> int:
    """SIGKILL the processes (each only if it is still the process it was) and every process
    of the sessions, a few rounds (one may fork meanwhile); returns how many were killed."""
    killed = set()
    me = os.getpid()
    for _ in range(5):
        targets = [pid for pid, started in procs.items() if start_time(pid) == started]
        targets += _in_sessions(sessions) if sessions else []
        targets = [pid for pid in set(targets) if pid != me]
        if not targets:
            break
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                continue
        time.sleep(0.1)
    return len(killed)


class Watchdog:
    """The supervisor's end of its watchdog: started by the first heartbeat (an interpreter
    starting beside the script would delay its first line on a small machine; until then the
    job's main process dies with the supervisor anyway), told the job's processes at every
    heartbeat, released with "done" when the supervisor ends normally."""

    def __init__(self, workspace_dir, run_id: str, log_path):
        import threading

        self.argv = [sys.executable, "-m", "runyard.supervisor.watchdog", str(workspace_dir), run_id]
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.released = False
        self.lock = threading.Lock()  # the heartbeat starts it, the supervisor's end releases it

    def start(self) -> None:
        import subprocess

        with self.lock:
            if self.process is not None or self.released:
                return
            with open(self.log_path, "ab") as out:
                self.process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True,
                                                close_fds=True)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def tell(self, sessions: list[int]) -> None:
        """The job's processes now: every descendant of the supervisor but this watchdog, and
        the job's sessions."""
        import psutil

        if self.process is None or self.process.stdin is None:
            return
        try:
            procs = [p for p in psutil.Process().children(recursive=True) if p.pid != self.pid]
            line = "procs " + " ".join(f"{p.pid}:{start_time(p.pid)}" for p in procs)
            self.process.stdin.write(f"{line}\nsessions {' '.join(map(str, sessions))}\n".encode())
            self.process.stdin.flush()
        except Exception:  # noqa: BLE001  a watchdog that is gone cannot be told; the run goes on
            pass

    def release(self) -> None:
        with self.lock:
            self.released = True
        if self.process is None or self.process.stdin is None:
            return
        try:
            self.process.stdin.write(b"done\n")
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        self.process.wait()


def main(argv: list[str]) -> int:
    workspace_dir, run_id = argv
    procs: dict[int, str] = {}
    sessions: set[int] = set()
    supervisor = os.getppid()
    for raw in sys.stdin.buffer:
        words = raw.decode(errors="replace").split()
        if not words:
            continue
        if words[0] == "done":
            return 0
        if words[0] == "procs":
            procs = {int(pid): started for pid, _, started in
                     (word.partition(":") for word in words[1:] if ":" in word)}
        elif words[0] == "sessions":
            sessions = {int(word) for word in words[1:]}
    # The pipe closed without "done": the supervisor is gone.
    killed = kill_job(procs, sessions)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} The supervisor (pid {supervisor}) of run "
          f"{run_id} is gone: {killed} process(es) of its job stopped.", flush=True)
    from runyard.runs.finalize import finish_abandoned
    from runyard.workspace import Workspace

    ws = Workspace._of_process(workspace_dir)
    finish_abandoned(ws, run_id, f"The run's supervisor (pid {supervisor}) ended without "
                                 "finishing the run (it was killed).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
