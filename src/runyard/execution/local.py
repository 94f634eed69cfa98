"""A job whose processes run on this machine, under its supervisor: the environment and inputs
made here, the processes started together, watched together and stopped together.

A single-process job writes user_logs/std_log.txt. A job of several processes writes one
std_log_process_<rank>.txt each, and std_log.txt interleaves their lines, each prefixed with
its process name ("[worker 1] ..."), for the live view.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from runyard import gpus, settings
from runyard.distributed import mpi_output, plan, ports
from runyard.distributed.mpi_output import MpiDemux
from runyard.distributed.plan import ProcessSpec
from runyard.execution import materialize, processes
from runyard.execution.job_env import has_module, inherited_environment, mpirun_binary
from runyard.execution.runner import JobContext, JobRunner

log = logging.getLogger("runyard.supervisor")


@dataclass
class Launched:
    spec: ProcessSpec
    proc: object  # subprocess.Popen
    log: Path
    pump: threading.Thread


class LocalJob(JobRunner):
    def __init__(self, ctx: JobContext):
        self.ctx = ctx
        self.spec, self.paths = ctx.spec, ctx.paths
        self.distribution = self.spec.distribution or {}
        self.mpi = self.distribution.get("kind") == "mpi"
        self.ranks_dir = self.paths.user_logs.parent / "ranks"  # MPI ranks' exit codes
        self.node: materialize.NodeJob | None = None  # set in Preparing
        self.launched: list[Launched] = []
        self.output_errors: list[OSError] = []
        self.gpus: list[gpus.Gpu] = []  # this machine's, found in place()
        self.gpu_indexes: list[int] = []  # held from place() to teardown()

    # -- Queued: this machine's GPUs ---------------------------------------------------------
    def place(self) -> bool:
        """Hold the GPUs the run asks for (all by default) while it runs; Queued, saying
        which runs hold them, until they are free. Nothing to wait for without GPUs."""
        self.gpus = gpus.available()
        wanted = self.spec.gpu_count
        if not self.gpus or wanted == 0:
            return True
        told = None
        while True:
            taken, holders = gpus.reserve(self.spec.run_id, [gpu.index for gpu in self.gpus], wanted,
                                          os.getpid())
            if taken:
                self.gpu_indexes = taken
                return True
            reason = (f"Queued: waiting for {wanted or len(self.gpus)} GPU(s) of this machine, "
                      f"held by {', '.join(holders)}")
            if reason != told:
                self.ctx.say(reason)
                told = reason
            if self.ctx.canceled():
                return False
            time.sleep(0.5)

    def devices(self) -> list[str]:
        by_index = {gpu.index: gpu for gpu in self.gpus}
        return [by_index[i].label for i in self.gpu_indexes if i in by_index]

    # -- Preparing -----------------------------------------------------------------------------
    def prepare(self) -> bool:
        self.node = materialize.prepare_environment(self.spec, self.ctx.say)
        if self.spec.inputs:
            materialize.prepare_inputs(self.spec, self.node, self.ctx.workspace, self.paths.workdir,
                                       self.paths.tmp / "inputs", self.paths.inputs_log, self.ctx.say)
        return True

    def cancel_preparing(self) -> None:
        """The environment build can take minutes (a package built from source): stop its
        processes; prepare() then fails and the supervisor ends the run Canceled."""
        self.stop(settings.kill_grace())

    def remove_inputs(self) -> None:
        materialize.remove_inputs(self.spec, self.paths.workdir, self.paths.tmp / "inputs")

    # -- Starting --------------------------------------------------------------------------------
    def start(self) -> None:
        argv = materialize.argv(self.spec, self.node)
        env = materialize.process_environment(
            inherited_environment(os.environ, strict=self.ctx.workspace.is_served),
            self.ctx.variables, self.node, metrics_dir=self.paths.metrics_dir, tmp=self.paths.tmp)
        specs = self._process_specs()
        if self.mpi:
            argv = plan.mpi_argv(self.distribution, argv, mpirun_binary(env), os.geteuid() == 0)
            specs = [ProcessSpec(rank=0, name="mpirun")]
            self.ranks_dir.mkdir(parents=True, exist_ok=True)
        if self.distribution.get("kind") == "tensorflow" and has_module(self.node.interpreter, "tf_keras"):
            # Keras 3 cannot train under MultiWorkerMirrored or ParameterServer strategies.
            env.setdefault("TF_USE_LEGACY_KERAS", "1")
        if self.gpus:  # a GPU machine: each process sees only its GPUs
            visible = gpus.assign([spec.name for spec in specs], self.gpu_indexes)
            specs = [replace(spec, env={**spec.env, "CUDA_VISIBLE_DEVICES": devices})
                     for spec, devices in zip(specs, visible, strict=True)]
        log.info("Starting %d process(es): %s (in %s)", len(specs), " ".join(argv), self.paths.workdir)
        self.specs = specs
        try:
            for spec in specs:
                self._spawn(spec, argv, env)
        except OSError as exc:
            self.stop(settings.kill_grace())
            raise RuntimeError(f"cannot start {argv[0]!r}: {exc}") from exc

    def _process_specs(self) -> list[ProcessSpec]:
        if self.distribution.get("kind") == "tensorflow":
            reserved = ports.reserve(self.spec.run_id, plan.port_count(self.distribution))
            return plan.tensorflow(self.distribution, [f"127.0.0.1:{port}" for port in reserved])
        return plan.single()

    def _spawn(self, spec: ProcessSpec, argv: list[str], env: dict[str, str]) -> None:
        user_logs = self.paths.user_logs
        combined = user_logs / "std_log.txt"
        env = {**env, **spec.env, settings.PROCESS_RANK: str(spec.rank),
               settings.RANKS_DIR: str(self.ranks_dir)}
        proc = processes.spawn(argv, self.paths.workdir, env)
        failed = self.output_errors.append
        if self.mpi:
            log_path = combined
            pump = processes.pump_into(proc, MpiDemux(user_logs), failed)
        elif self.distributed:
            log_path = user_logs / f"std_log_process_{spec.rank}.txt"
            pump = processes.pump(proc, log_path, combined, f"[{spec.name}] ".encode(), failed)
        else:
            log_path = combined
            pump = processes.pump(proc, log_path, on_error=failed)
        self.launched.append(Launched(spec, proc, log_path, pump))

    # -- Running ---------------------------------------------------------------------------------
    @property
    def distributed(self) -> bool:
        return len(getattr(self, "specs", ())) > 1 or self.mpi

    @property
    def pids(self) -> list[int]:
        return [item.proc.pid for item in self.launched]

    def sessions(self) -> list[int]:
        return self.pids  # each process started its own session

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
        if self.mpi:
            ranks = self.distribution["process_count_per_node"] * self.distribution["node_count"]
            codes = mpi_output.rank_codes(self.ranks_dir)
            if len(codes) == ranks and not any(codes.values()):
                return True
        return all(item.proc.poll() is not None for item in self.launched if item.spec.decides_end)

    def wait(self, timeout: float) -> None:
        running = [item.proc for item in self.launched if item.proc.poll() is None]
        if len(running) != 1 or self.mpi:  # (several to watch: look again after `timeout`)
            time.sleep(timeout)
            return
        processes.wait_for_exit(running[0], timeout)

    def stop(self, grace: float) -> None:
        """Stop every process of the job (or of its environment build, before it started):
        its sessions, and whatever descends from the supervisor (it is a subreaper, so a
        rank's or a script's orphans come back to it), but the supervisor's own helpers."""
        processes.stop_job(self.pids, grace, set(self.ctx.keep()))
        for item in self.launched:
            item.proc.wait()

    def finish(self, timeout: float = 10.0) -> None:
        for item in self.launched:
            item.pump.join(timeout=timeout)

    def teardown(self) -> None:
        if self.distribution:
            ports.release(self.spec.run_id)
        if self.gpu_indexes:
            gpus.release(self.spec.run_id)
