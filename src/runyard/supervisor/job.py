"""The processes of one job: started together, watched together, stopped together.

A single-process job writes user_logs/std_log.txt. A job of several processes writes one
std_log_process_<rank>.txt each, and std_log.txt interleaves their lines, each prefixed with
its process name ("[worker 1] ..."), for the live view.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from runyard.distributed.plan import ProcessSpec
from runyard.supervisor import processes


@dataclass
class Launched:
    spec: ProcessSpec
    proc: object  # subprocess.Popen
    log: Path
    pump: threading.Thread


class Job:
    def __init__(self, specs: list[ProcessSpec], argv: list[str], cwd: Path,
                 env: dict[str, str], user_logs: Path):
        self.specs = specs
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.user_logs = user_logs
        self.launched: list[Launched] = []

    @property
    def distributed(self) -> bool:
        return len(self.specs) > 1

    @property
    def pids(self) -> list[int]:
        return [item.proc.pid for item in self.launched]

    def start(self) -> None:
        combined = self.user_logs / "std_log.txt"
        for spec in self.specs:
            env = {**self.env, **spec.env, "RUNYARD_PROCESS_RANK": str(spec.rank)}
            proc = processes.spawn(self.argv, self.cwd, env)
            if self.distributed:
                log = self.user_logs / f"std_log_process_{spec.rank}.txt"
                pump = processes.pump(proc, log, combined, f"[{spec.name}] ".encode())
            else:
                log = combined
                pump = processes.pump(proc, log)
            self.launched.append(Launched(spec, proc, log, pump))

    def failed(self) -> Launched | None:
        """The first process that exited with an error (or was killed), if any."""
        for item in self.launched:
            code = item.proc.poll()
            if code not in (None, 0):
                return item
        return None

    def finished(self) -> bool:
        return all(item.proc.poll() is not None for item in self.launched if item.spec.decides_end)

    def stop(self, grace: float) -> None:
        known = [d for pid in self.pids for d in processes.descendants(pid)]
        processes.stop_groups(self.pids, grace, known)
        for item in self.launched:
            item.proc.wait()

    def join_pumps(self, timeout: float = 10.0) -> None:
        for item in self.launched:
            item.pump.join(timeout=timeout)
