"""The processes of one job: started together, watched together, stopped together.

A single-process job writes user_logs/std_log.txt. A job of several processes writes one
std_log_process_<rank>.txt each, and std_log.txt interleaves their lines, each prefixed with
its process name ("[worker 1] ..."), for the live view.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from runyard.distributed import mpi_output
from runyard.distributed.mpi_output import MpiDemux
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
                 env: dict[str, str], user_logs: Path, mpi: bool = False, ranks: int = 0,
                 keep=frozenset):
        self.mpi = mpi  # one mpirun whose tagged output is split into per-rank logs
        self.ranks = ranks  # MPI: how many ranks report an exit code
        self.keep = keep  # () -> pids of the supervisor's own helpers (its watchdog): never stopped
        self.ranks_dir = user_logs.parent / "ranks"  # MPI ranks' exit codes
        self.specs = specs
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.user_logs = user_logs
        self.launched: list[Launched] = []
        self.output_errors: list[OSError] = []  # writing the output failed (a full disk)

    @property
    def distributed(self) -> bool:
        return len(self.specs) > 1 or self.mpi

    @property
    def pids(self) -> list[int]:
        return [item.proc.pid for item in self.launched]

    def start(self) -> None:
        combined = self.user_logs / "std_log.txt"
        if self.mpi:
            self.ranks_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            env = {**self.env, **spec.env, "RUNYARD_PROCESS_RANK": str(spec.rank),
                   "RUNYARD_RANKS_DIR": str(self.ranks_dir)}
            proc = processes.spawn(self.argv, self.cwd, env)
            failed = self.output_errors.append
            if self.mpi:
                log = combined
                pump = processes.pump_into(proc, MpiDemux(self.user_logs), failed)
            elif self.distributed:
                log = self.user_logs / f"std_log_process_{spec.rank}.txt"
                pump = processes.pump(proc, log, combined, f"[{spec.name}] ".encode(), failed)
            else:
                log = combined
                pump = processes.pump(proc, log, on_error=failed)
            self.launched.append(Launched(spec, proc, log, pump))

    def failed(self) -> Launched | None:
        """The first process that exited with an error (or was killed), if any. For MPI, a
        rank that failed counts at once, before mpirun itself exits."""
        if self.mpi and self.launched and mpi_output.failed_rank(self.ranks_dir, "") is not None:
            return self.launched[0]
        for item in self.launched:
            code = item.proc.poll()
            if code not in (None, 0):
                return item
        return None

    def finished(self) -> bool:
        """The deciding processes ended; for MPI, every rank reported a clean exit (mpirun
        would otherwise wait for as long as a rank's leftover child holds its output)."""
        if self.mpi and self.ranks:
            codes = mpi_output.rank_codes(self.ranks_dir)
            if len(codes) == self.ranks and not any(codes.values()):
                return True
        return all(item.proc.poll() is not None for item in self.launched if item.spec.decides_end)

    def stop(self, grace: float) -> None:
        """Stop every process of the job: its sessions, and whatever descends from the
        supervisor (it is a subreaper, so a rank's or a script's orphans come back to it)."""
        processes.stop_job(self.pids, grace, set(self.keep()))
        for item in self.launched:
            item.proc.wait()

    def join_pumps(self, timeout: float = 10.0) -> None:
        for item in self.launched:
            item.pump.join(timeout=timeout)
