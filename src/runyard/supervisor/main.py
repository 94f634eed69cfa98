"""The supervisor of one run: Preparing -> Starting -> Running -> Finalizing -> an end state.

It heartbeats, pumps the job's output into user_logs/std_log.txt, ingests metrics from the
run's metrics folder into MLflow, uploads ./logs while the job runs and ./outputs at the end,
and enforces cancel and max_run_duration_seconds on every process of the job.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from runyard import settings
from runyard.compute.placement import job_runner
from runyard.distributed import mpi_output
from runyard.errors import IllegalTransitionError, UserErrorException
from runyard.execution import materialize, processes
from runyard.execution.runner import JobContext, JobRunner
from runyard.runs import finalize, gate, mlflow_fields, snapshot
from runyard.runs.follow import tail
from runyard.runs.paths import RunPaths
from runyard.runs.records import RecordReader
from runyard.runs.spec import RunSpec
from runyard.runs.status import RunStatus
from runyard.stores.failures import is_disk_full
from runyard.supervisor import resources, watchdog
from runyard.supervisor.errors import describe_failure
from runyard.supervisor.sync import FolderSync
from runyard.workspace import Workspace

if TYPE_CHECKING:
    from runyard.runs.ingest import Ingestor

log = logging.getLogger("runyard.supervisor")
S = RunStatus


FAILED_PEER_GRACE = 1.0  # seconds the other processes get after one of them failed
OUTPUT_SYNC_INTERVAL = 3.0  # seconds between uploads of the job's output while it runs


class RunEnded(Exception):
    """The run reached an end state that someone else recorded (a reader failed it)."""


class Supervisor:
    def __init__(self, ws: Workspace, run_id: str):
        self.ws = ws
        self.run_id = run_id
        self.registry = ws._registry
        record = self.registry.get_run(run_id)
        self.record = record
        self.spec = RunSpec(**record["spec"])
        self.paths = RunPaths.of(ws, run_id)
        self.phase = S.QUEUED
        self.stop_reason: str | None = None  # "cancel" | "deadline"
        self._stop_heartbeat = threading.Event()
        self.ingestor: Ingestor | None = None
        self._ingest_lock = threading.Lock()
        self.reader = RecordReader(self.paths.metrics_dir, self.paths.ingest_state)
        self.disk_full: tuple[str, BaseException] | None = None  # (what was being written, error)
        self.sampler: resources.Sampler | None = None  # system metrics, while the job runs
        self.usage: resources.Usage | None = None  # what the job used, once sampling stopped
        self.oom_kills_before = 0  # the kernel's OOM-kill count when the job started

    # -- lifecycle -----------------------------------------------------------------------------
    def run(self) -> int:
        if not self._claim():
            log.warning("Another supervisor has run %s already; leaving it to that one.", self.run_id)
            return 0
        me = psutil.Process()
        processes.become_subreaper()  # the job's orphans come back here, to be stopped with it
        if self.ws.is_served:
            processes.keep_environment_private()
        self.watchdog = watchdog.Watchdog(self.ws.folder, self.run_id, self.paths.supervisor_log)
        self._keep_reserve()
        self.paths.create()
        self.job = job_runner(JobContext(
            self.ws, self.record, self.spec, self.paths,
            materialize.run_variables(self.ws, self.record, self.spec), say=self._preparing,
            canceled=self._cancel_requested, keep=lambda: {pid for pid in (self.watchdog.pid,) if pid}))
        self.registry.update_run(self.run_id, supervisor_pid=me.pid, host=socket.gethostname(),
                                 supervisor_started=me.create_time(), heartbeat_at=time.time())
        heartbeat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        heartbeat.start()
        signal.signal(signal.SIGTERM, self._on_sigterm)
        exit_code = None
        try:
            # Queued while a sweep holds this trial ready to go (runs/gate.py)
            gate.wait(self.paths.start_gate, give_up=lambda: self._status() != S.QUEUED)
            if not self.job.place():  # Queued until the job has room (nodes of a cluster)
                return self._finish(None)
            if not self._advance(S.PREPARING):
                return self._finish(None)
            if not self._prepare():
                return self._finish(None)
            if not self._advance(S.STARTING):
                return self._finish(None)
            self.job.start()
            self._advance(S.RUNNING, start_time=time.time(), job_pgid=self.job.pids[0],
                          job_pgids=self.job.pids)
            self._start_sampling()
            exit_code = self._watch(self.job)
            return self._finish(exit_code)
        except RunEnded:
            log.warning("The run was ended by another process; stopping the job.")
            self._stop_everything()
            return 1
        except Exception as exc:
            if is_disk_full(exc) or self.disk_full:
                self.disk_full = self.disk_full or ("finishing the run", exc)
                self._stop_everything()
                self._fail_disk_full()
                return 1
            if self.stop_reason == "cancel" and self.phase == S.PREPARING:
                # The cancel stopped the environment build (or the inputs) under way.
                log.info("Preparing stopped by the cancel (%s).", _first_line(exc))
                return self._finish(None)
            if isinstance(exc, UserErrorException):  # the environment cannot be prepared as defined
                self._fail_preparing(str(exc))
                return 1
            # A supervisor bug must still end the run, with its reason.
            log.error("Supervisor error:\n%s", traceback.format_exc())
            self._stop_everything()
            self._fail_hard(f"runyard supervisor error: {type(exc).__name__}: {exc}")
            return 1
        finally:
            self.job.teardown()  # (nodes, ports: given back already unless the run ended early)
            self._stop_heartbeat.set()
            self.watchdog.release()

    def _start_sampling(self) -> None:
        """System metrics of the job's processes (supervisor/resources.py), from its start."""
        self.oom_kills_before = resources.oom_kills()
        every = settings.system_metrics_interval()
        if every > 0:
            self.sampler = resources.Sampler(self.paths.metrics_dir, every, self.job.gpu_indexes,
                                             excluded=self.job.ctx.keep)
            self.sampler.start()

    def _stop_sampling(self) -> resources.Usage | None:
        """The job's usage, kept in the run's properties; None when nothing was sampled."""
        if self.sampler is None:
            return None
        usage = self.sampler.stop()
        self.registry.merge_json(self.run_id, "properties", usage.summary(self.job.devices()))
        return usage

    def _claim(self) -> bool:
        """Hold the run's supervisor lock for the life of this process (released when it
        ends, however); False when another supervisor holds it."""
        self._lock_file = open(self.paths.supervisor_lock, "a")  # noqa: SIM115  (held until exit)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            return False
        return True

    def _advance(self, new: RunStatus, **values) -> bool:
        """Move to the next phase; False when a cancel came first (the run then finishes as
        Canceled); RunEnded when a reader already ended the run."""
        try:
            previous = self.registry.transition(self.run_id, new, only_from={self.phase, S.NOT_RESPONDING}, **values)
        except IllegalTransitionError:
            previous = None
        if previous is not None:
            self.phase = new
            log.info("Status: %s", new.value)
            return True
        status = self._status()
        if status in (S.CANCEL_REQUESTED, S.CANCELED):
            self.stop_reason = "cancel"
            return False
        raise RunEnded(status.value)

    def _heartbeat(self) -> None:
        interval = settings.heartbeat_interval()
        while not self._stop_heartbeat.wait(interval):
            self.watchdog.start()
            self._tell_watchdog()
            try:
                self.registry.update_run(self.run_id, heartbeat_at=time.time())
                status = self._status()
                if status == S.NOT_RESPONDING:  # we are alive after all: take the run back
                    self.registry.transition(self.run_id, self.phase, only_from={S.NOT_RESPONDING})
                elif status == S.CANCEL_REQUESTED and self.phase == S.PREPARING and \
                        self.stop_reason is None:
                    # Preparing can take minutes (a package built from source): stop it now.
                    self.stop_reason = "cancel"
                    log.info("Cancel requested while Preparing.")
                    self.job.cancel_preparing()
            except Exception as exc:
                if is_disk_full(exc) and self.disk_full is None:
                    self.disk_full = ("recording the run's heartbeat", exc)
                log.exception("Heartbeat failed")

    # -- every process this supervisor started -------------------------------------------------
    def _tell_watchdog(self) -> None:
        self.watchdog.tell(self.job.sessions())

    def _stop_everything(self) -> None:
        """Stop the job, or what runs before it (an environment build), and all they started."""
        self.job.stop(settings.kill_grace())

    def _on_sigterm(self, signum, frame) -> None:
        log.warning("SIGTERM received: stopping the job.")
        self.stop_reason = self.stop_reason or "terminated"

    # -- phases --------------------------------------------------------------------------------
    def _status(self) -> RunStatus:
        return self.registry.get_run(self.run_id)["status"]

    def _cancel_requested(self) -> bool:
        if self._status() in (S.CANCEL_REQUESTED, S.CANCELED):
            self.stop_reason = "cancel"
            return True
        return False

    def _prepare(self) -> bool:
        """Preparing: the snapshot, environment and inputs where the job runs; False when a
        cancel came meanwhile."""
        wd = self.paths.workdir
        snapshot.restore(self.ws.snapshots_dir, self.spec.snapshot_id, wd)
        for sub in ("outputs", "logs"):
            (wd / sub).mkdir(parents=True, exist_ok=True)  # (an empty snapshot restores no folder)
        self.paths.tmp.mkdir(exist_ok=True)
        return self.job.prepare()

    def _preparing(self, line: str) -> None:
        """A line of Preparing progress: in the run's live output and its system logs."""
        log.info("%s", line)
        with open(self.paths.preparing_log, "a") as fh:
            fh.write(line + "\n")

    def _watch(self, job: JobRunner) -> int | None:
        deadline = time.monotonic() + self.spec.max_run_duration_seconds
        logs_sync = FolderSync(self.paths.workdir / "logs", "logs", self._upload)
        # The output too, while the job runs (MLflow's artifact view, a little behind the
        # run's page, which reads the file itself); each sync copies a changed file whole.
        output_sync = FolderSync(self.paths.user_logs, "user_logs", self._upload)
        every = settings.ingest_interval()
        next_ingest = next_output_sync = time.monotonic()
        threading.Thread(target=self._init_tracking, daemon=True).start()
        self.failed_process = None
        while True:
            if job.output_errors and self.disk_full is None:
                self.disk_full = ("writing the job's output to user_logs", job.output_errors[0])
            if self.disk_full is not None:
                log.info("The disk is full (%s): stopping the job.", self.disk_full[0])
                job.stop(min(settings.kill_grace(), FAILED_PEER_GRACE))
                code = None
                break
            failed = job.failed()
            if failed is not None:
                # One process down: stop the others at once (TensorFlow would wait on the
                # dead peer for a long time) and remember who failed.
                self.failed_process = failed
                log.info("Process %s (rank %d) exited with %s; stopping the others.",
                         failed.spec.name or "main", failed.spec.rank, failed.proc.returncode)
                code = failed.proc.returncode
                # The survivors are stuck on a dead peer: a short grace is enough (and
                # TensorFlow ignores SIGTERM anyway).
                job.stop(min(settings.kill_grace(), FAILED_PEER_GRACE))
                break
            if job.finished():
                code = 0
                break
            if self.stop_reason is None:
                status = self._status()
                if status == S.CANCEL_REQUESTED:
                    self.stop_reason = "cancel"
                elif status.is_terminal():
                    raise RunEnded(status.value)
                elif time.monotonic() > deadline:
                    self.stop_reason = "deadline"
            if self.stop_reason is not None:
                log.info("Stopping the job (%s).", self.stop_reason)
                job.stop(settings.kill_grace())
                code = job.launched[0].proc.returncode
                break
            if time.monotonic() >= next_ingest:
                self._ingest_and_sync(logs_sync)
                next_ingest = time.monotonic() + every
            if time.monotonic() >= next_output_sync and self.ingestor is not None:
                self._ingest_and_sync(output_sync)
                next_output_sync = time.monotonic() + max(every, OUTPUT_SYNC_INTERVAL)
            job.wait(0.1)
        # No process survives its run: parameter servers, and anything a script left behind.
        job.stop(min(settings.kill_grace(), 2.0))
        job.finish()
        if self.disk_full is None:
            self._ingest_and_sync(logs_sync)
        return code

    def _ingest_and_sync(self, folder: FolderSync) -> None:
        """Metrics into the store, a folder's changes up; a full disk stops the job (see
        _fail_disk_full)."""
        try:
            self._ingest()
            folder.sync()
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self.disk_full = self.disk_full or ("storing the run's metrics and ./logs", exc)

    def _init_tracking(self) -> None:
        with self._ingest_lock:
            if self.ingestor is None:
                started = time.monotonic()
                from runyard.runs.ingest import Ingestor
                from runyard.stores import tracking

                tracking.set_tags(self.ws.tracking_uri, self.record["mlflow_run_id"],
                                  {mlflow_fields.STATUS_TAG: S.RUNNING.value})
                started_running = self.registry.get_run(self.run_id).get("start_time")
                if started_running:
                    tracking.set_start_time(self.ws.tracking_uri, self.record["mlflow_run_id"], started_running)

                self.ingestor = Ingestor(self.ws.tracking_uri, self.record["mlflow_run_id"],
                                         self.registry, self.run_id,
                                         self.paths.structured_metrics, self.paths.uploads_dir)
                log.info("MLflow loaded in %.2f s", time.monotonic() - started)

    def _ingest(self) -> None:
        if self.ingestor is None:
            return  # MLflow is still loading; records wait in their files
        with self._ingest_lock:
            records = self.reader.read_new()
            if records:
                self.ingestor.apply(records)
            self.reader.commit()

    def _upload(self, local: Path, artifact_dir: str) -> None:
        from runyard.stores import tracking

        tracking.upload_file(self.ws.tracking_uri, self.record["mlflow_run_id"], local, artifact_dir)

    def _finish(self, exit_code: int | None) -> int:
        """Finalizing: flush metrics, upload outputs and logs, record the end state."""
        from runyard.stores import tracking

        if self.disk_full is not None:
            return self._fail_disk_full()
        current = self._status()
        if current.is_terminal():  # canceled while still queued: nothing ran
            return 0 if current == S.COMPLETED else 1
        if self.registry.transition(self.run_id, S.FINALIZING, only_from={
                S.RUNNING, S.CANCEL_REQUESTED, S.NOT_RESPONDING}) is None:
            raise RunEnded(current.value)
        self.phase = S.FINALIZING
        log.info("Status: %s", S.FINALIZING.value)
        started = time.monotonic()
        self._init_tracking()
        log.info("MLflow ready after %.2f s of finalizing", time.monotonic() - started)
        self.usage = self._stop_sampling()
        self._ingest()
        log.info("Metrics flushed (%d points in all)", self.ingestor.points if self.ingestor else 0)
        try:
            finalize.upload_outputs(self.ws, self.record["mlflow_run_id"], self.paths)
        except Exception as exc:
            if is_disk_full(exc):
                self.disk_full = ("copying ./outputs to the run's artifacts", exc)
            raise
        finalize.upload_logs(self.ws, self.record["mlflow_run_id"], self.paths, system=False)
        end, error = self._outcome(exit_code)
        self.registry.update_run(self.run_id, exit_code=exit_code)
        if self.reader.bad_lines:
            log.warning("%d unreadable metric lines were skipped.", self.reader.bad_lines)
        log.info("Status: %s", end.value)
        self._upload_system_logs()
        self.registry.transition(self.run_id, end, only_from={S.FINALIZING}, error=error)
        tracking.set_terminated(self.ws.tracking_uri, self.record["mlflow_run_id"], end.value, error)
        self.job.remove_inputs()
        finalize.remove_job_folders(self.run_id, self.paths)
        return 0 if end == S.COMPLETED else 1

    def _outcome(self, exit_code: int | None) -> tuple[RunStatus, dict | None]:
        if self.stop_reason == "cancel":
            return S.CANCELED, None
        if self.stop_reason == "deadline":
            limit = self.spec.max_run_duration_seconds
            return S.CANCELED, {
                "code": "RunTimeout",
                "message": f"The run exceeded max_run_duration_seconds={limit:g} and was stopped. "
                           "Raise max_run_duration_seconds in the ScriptRunConfig if it needs longer.",
                "logTail": tail(self.paths.std_log, 20)}
        if self.stop_reason == "terminated":
            return S.FAILED, {"code": "ServiceError",
                              "message": "The run's supervisor was terminated (SIGTERM).",
                              "logTail": tail(self.paths.std_log, 20)}
        if self.job.failure:
            return S.FAILED, {**self.job.failure, "logTail": tail(self.paths.std_log, 20)}
        asked = self.ingestor.end_request if self.ingestor else None
        if asked and asked.get("status") == S.FAILED.value:  # run.fail(): its details are the reason
            return S.FAILED, {"code": str(asked.get("code") or "UserError"),
                              "message": str(asked.get("message") or "The run called run.fail()."),
                              "exitCode": exit_code, "logTail": tail(self.paths.std_log, 20)}
        if exit_code == 0:
            return S.COMPLETED, None
        failed = getattr(self, "failed_process", None)
        if failed is not None and self.job.mpi:
            reported = mpi_output.failed_rank(self.job.ranks_dir,
                                              self.paths.std_log.read_text(errors="replace"))
            if reported is not None:
                rank, code = reported
                return S.FAILED, describe_failure(
                    code, self.paths.user_logs / f"std_log_process_{rank}.txt",
                    process=f"rank {rank}", rank=rank)
        if failed is not None and self.job.distributed:
            error = describe_failure(exit_code, failed.log, process=failed.spec.name, rank=failed.spec.rank)
        else:
            error = describe_failure(exit_code, self.paths.std_log)
        return S.FAILED, self._with_memory(error, exit_code)

    def _with_memory(self, error: dict, exit_code: int | None) -> dict:
        """A job that ran out of memory says so first, with its peak and its limit."""
        if self.usage is None or self.sampler is None:
            return error
        said = resources.out_of_memory_message(self.usage, self.sampler.limit, self.oom_kills_before,
                                               exit_code, error["message"].split(": ", 1)[-1])
        if said is None:
            return error
        return {**error, "code": "OutOfMemory", "message": f"{said}. {error['message']}"}

    def _fail_preparing(self, message: str) -> None:
        from runyard.stores import tracking

        self._preparing(f"Preparing failed: {message}")
        try:
            self._upload_system_logs()
        except Exception:
            log.exception("Could not upload the system logs")
        error = {"code": "UserError", "message": message}
        self.registry.transition(self.run_id, S.FAILED,
                                 only_from={S.PREPARING, S.STARTING, S.NOT_RESPONDING}, error=error)
        tracking.set_terminated(self.ws.tracking_uri, self.record["mlflow_run_id"], "Failed", error)
        self.job.remove_inputs()
        finalize.remove_job_folders(self.run_id, self.paths)

    def _upload_system_logs(self) -> None:
        finalize.upload_logs(self.ws, self.record["mlflow_run_id"], self.paths, user=False)

    def _keep_reserve(self) -> None:
        """A megabyte set aside on the workspace's disk: if the disk fills up, freeing it leaves
        room to record why the run failed."""
        try:
            with open(self.paths.reserve, "wb") as fh:
                os.posix_fallocate(fh.fileno(), 0, 1 << 20)
        except OSError:
            self.paths.reserve.unlink(missing_ok=True)

    def _fail_disk_full(self) -> int:
        """The disk filled up: the job was stopped; record the failure, naming the disk."""
        what, exc = self.disk_full or ("", OSError("disk full"))
        self.paths.reserve.unlink(missing_ok=True)
        cause = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        where = self.ws.folder
        message = (f"The disk holding {where} is full ({cause}) while {what}. The run's processes "
                   f"were stopped; what it wrote so far stays in {self.paths.root}. Free space on "
                   f"that disk (df -h {where}) or move the workspace to a larger one, then run it again.")
        log.error("%s", message)
        self._fail_hard(message, code="DiskFull")
        return 1

    def _fail_hard(self, message: str, code: str = "ServiceError") -> None:
        from runyard.stores import tracking

        try:
            status = self._status()
            if not status.is_terminal():
                error = {"code": code, "message": message}
                self.registry.transition(self.run_id, S.FAILED, only_from={status}, error=error)
                tracking.set_terminated(self.ws.tracking_uri, self.record["mlflow_run_id"], "Failed", error)
        except Exception:
            log.exception("Could not record the failure")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    workspace_dir, run_id = argv
    ws = Workspace._of_process(workspace_dir)
    return Supervisor(ws, run_id).run()
