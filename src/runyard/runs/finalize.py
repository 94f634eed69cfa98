"""The end of a run's bookkeeping: its metrics ingested, its outputs and logs uploaded. The
supervisor does it in Finalizing; when the supervisor is gone (killed, or its machine
rebooted), whoever finds that out (its watchdog, or a reader of the run) does it instead and
fails the run, so that the error's "look at the logs" is true and no logged point is lost."""

from __future__ import annotations

import fcntl
import logging
import shutil
import time

from runyard.runs.paths import RunPaths
from runyard.runs.status import RunStatus

log = logging.getLogger("runyard.supervisor")


def ingest_pending(ws, record: dict, paths: RunPaths, ingestor=None):
    """Apply every metric record the run's processes wrote and no one ingested yet."""
    from runyard.runs.ingest import Ingestor
    from runyard.runs.records import RecordReader

    if ingestor is None:
        ingestor = Ingestor(ws.tracking_uri, record["mlflow_run_id"], ws._registry, record["run_id"],
                            paths.structured_metrics, paths.uploads_dir)
    reader = RecordReader(paths.metrics_dir, paths.ingest_state)
    records = reader.read_new()
    if records:
        ingestor.apply(records)
    reader.commit()
    return len(records)


def upload_outputs(ws, mlflow_run_id: str, paths: RunPaths) -> None:
    from runyard.stores import tracking

    outputs = paths.workdir / "outputs"
    if outputs.is_dir() and any(outputs.iterdir()):
        tracking.upload_dir(ws.tracking_uri, mlflow_run_id, outputs, "outputs")


def upload_logs(ws, mlflow_run_id: str, paths: RunPaths, user: bool = True,
                system: bool = True) -> None:
    from runyard.stores import tracking

    for user_log in sorted(paths.user_logs.glob("std_log*.txt")) if user else []:
        tracking.upload_file(ws.tracking_uri, mlflow_run_id, user_log, "user_logs")
    for system_log in (paths.preparing_log, paths.inputs_log, paths.supervisor_log) if system else ():
        if system_log.exists():
            tracking.upload_file(ws.tracking_uri, mlflow_run_id, system_log, "system_logs")


def remove_job_folders(run_id: str, paths: RunPaths) -> None:
    from runyard.distributed import ports

    shutil.rmtree(paths.workdir, ignore_errors=True)
    shutil.rmtree(paths.tmp, ignore_errors=True)
    paths.reserve.unlink(missing_ok=True)
    ports.release(run_id)


def finish_abandoned(ws, run_id: str, message: str) -> bool:
    """End a run whose supervisor is gone: ingest, upload, then Failed (Canceled when a cancel
    was already asked for) with `message`. One process does it; returns whether it was this
    one. Each step is tried even when an earlier one fails."""
    from runyard.stores import tracking

    paths = RunPaths.of(ws, run_id)
    paths.system_logs.mkdir(parents=True, exist_ok=True)
    with open(paths.root / ".finishing.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another process is finishing it
        record = ws._registry.get_run(run_id)
        if record["status"].is_terminal():
            return False
        _note(paths, f"The supervisor is gone: {message} Finishing the run's bookkeeping.")
        done = []
        for name, step in (("metrics", lambda: ingest_pending(ws, record, paths)),
                           ("outputs", lambda: upload_outputs(ws, record["mlflow_run_id"], paths))):
            try:
                step()
                done.append(name)
            except Exception as exc:  # noqa: BLE001  the others still run
                _note(paths, f"Could not save the {name}: {type(exc).__name__}: {exc}")
        status = record["status"]
        end = RunStatus.CANCELED if status == RunStatus.CANCEL_REQUESTED else RunStatus.FAILED
        error = None if end == RunStatus.CANCELED else {
            "code": "ServiceError", "message": f"{message} Its processes were stopped; "
            f"{' and '.join(done) or 'nothing'} of what it left was saved. Look at system_logs/supervisor.log."}
        if "sweep" in record["spec"]:  # a sweep's controller: none of its trials goes on
            for trial in ws._registry.list_runs(parent_run_id=run_id):
                if not trial["status"].is_terminal():
                    ws.backend.runs.cancel(trial["run_id"])
                    _note(paths, f"Canceled trial {trial['run_id']}.")
        _note(paths, f"Status: {end.value}")
        try:
            upload_logs(ws, record["mlflow_run_id"], paths)
        except Exception as exc:  # noqa: BLE001
            log.warning("Could not upload the logs: %s", exc)
        changed = ws._registry.transition(run_id, end, only_from={status, RunStatus.NOT_RESPONDING},
                                          error=error)
        if changed is not None:
            tracking.set_terminated(ws.tracking_uri, record["mlflow_run_id"], end.value, error)
        remove_job_folders(run_id, paths)
        return changed is not None


def _note(paths: RunPaths, line: str) -> None:
    with open(paths.supervisor_log, "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} WARNING {line}\n")
