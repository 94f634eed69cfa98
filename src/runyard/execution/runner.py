"""The job of one run, as its supervisor drives it: placed, prepared, started, watched, stopped,
finished. `LocalJob` (execution/local.py) runs the processes on this machine; `RayJob`
(compute/ray_job.py) on the nodes of a Ray compute target. The supervisor gets one from
`compute.placement.job_runner(...)`, chosen by the run's compute target, and never asks which it has.

A new compute backend is a new JobRunner: see docs/architecture.md, "How to add a compute
backend".
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runyard.runs.paths import RunPaths
    from runyard.runs.spec import RunSpec
    from runyard.workspace.workspace import Workspace


@dataclass
class JobContext:
    """What a job runner is given: the run, and the supervisor's callbacks."""

    workspace: Workspace  # the run's
    record: dict  # the run's registry record
    spec: RunSpec
    paths: RunPaths
    variables: dict[str, str]  # the job's variables that do not depend on the machine
    say: Callable[[str], None]  # a line of Preparing progress, shown live
    canceled: Callable[[], bool]  # whether a cancel was asked for
    keep: Callable[[], set[int]]  # pids of the supervisor's own helpers: never stopped


class JobRunner(ABC):
    """One run's processes. After start(), `launched` lists them, each with `.spec` (its
    ProcessSpec: rank, name, whether it decides the end), `.proc` (`.pid`, `.returncode`) and
    `.log` (its own log file)."""

    launched: list
    mpi: bool = False  # one mpirun whose ranks report their exit codes in `ranks_dir`
    ranks_dir: Path
    output_errors: list  # OSErrors writing the output (a full disk): the supervisor stops the job
    failure: dict | None = None  # why the job failed when no process did (a node lost)
    gpu_indexes: list[int] = []  # this machine's GPUs the job holds (sampled with its processes)

    def devices(self) -> list[str]:
        """The devices the job runs on, in words ("GPU 0 (NVIDIA H200)"); [] for CPUs only."""
        return []

    def place(self) -> bool:
        """Queued: wait until the job has room to run; False when the run was canceled."""
        return True

    @abstractmethod
    def prepare(self) -> bool:
        """Preparing, the snapshot restored in the run's working folder: the environment and
        the inputs where the processes run; False when the run was canceled meanwhile. Raises
        UserErrorException when the environment cannot be made as defined."""

    def cancel_preparing(self) -> None:  # noqa: B027  (prepare() watches ctx.canceled itself)
        """A cancel came while prepare() runs in another thread: stop what it waits for."""

    @abstractmethod
    def start(self) -> None:
        """Starting: spawn every process of the job."""

    @property
    @abstractmethod
    def pids(self) -> list[int]:
        """The job's processes (recorded with the run)."""

    @property
    @abstractmethod
    def distributed(self) -> bool:
        """Several processes (each with its own log), or MPI ranks."""

    @abstractmethod
    def failed(self):
        """The first process that failed (an entry of `launched`), or None."""

    @abstractmethod
    def finished(self) -> bool:
        """Whether the processes that decide the end have ended."""

    def wait(self, timeout: float) -> None:
        """Wait up to `timeout` seconds; a runner that can returns early when a process of the
        job ends, so the supervisor finishes the run at once."""
        time.sleep(timeout)

    @abstractmethod
    def stop(self, grace: float) -> None:
        """Stop every process of the job, and whatever runs before it (a build), and all
        they started: SIGTERM, `grace` seconds, SIGKILL. Safe to call again."""

    @abstractmethod
    def finish(self) -> None:
        """After stop(): the last output read, the outputs and logs brought into the run's
        working folder."""

    def teardown(self) -> None:  # noqa: B027  (nothing to give back by default)
        """Give back what the job held (nodes, ports); called once the run ends, however."""

    def remove_inputs(self) -> None:  # noqa: B027  (no views made here by default)
        """Take down the dataset views made for the job on this machine."""

    def sessions(self) -> list[int]:
        """This machine's sessions of the job, for the supervisor's watchdog."""
        return []
