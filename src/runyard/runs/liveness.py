"""Readers detect a dead supervisor: a stale heartbeat puts the run in NotResponding, and a
supervisor that is gone (or silent for twice the timeout) fails it, stopping what is left."""

from __future__ import annotations

import os
import signal
import socket
import time

from runyard import settings
from runyard.runs.status import RunStatus

ACTIVE = {RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING,
          RunStatus.FINALIZING, RunStatus.CANCEL_REQUESTED, RunStatus.NOT_RESPONDING}


def supervisor_alive(record: dict) -> bool | None:
    """True/False when it can be told from this host; None when the supervisor is elsewhere."""
    return process_alive(record.get("supervisor_pid"), record.get("supervisor_started"),
                         record.get("host"))


def process_alive(pid: int | None, started: float | None, host: str | None) -> bool | None:
    """Whether the process `pid` started at `started` on `host` still runs; None when it is on
    another host (or no pid is known)."""
    if not pid or host != socket.gethostname():
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        if started and abs(proc.create_time() - started) > 1.0:
            return False  # the pid was reused by another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def check(ws, record: dict) -> dict:
    """Return the run record, after marking it NotResponding / Failed if its supervisor died."""
    status = record["status"]
    if status not in ACTIVE:
        return record
    timeout = settings.heartbeat_timeout()
    last = record.get("heartbeat_at") or record["created_at"]
    age = time.time() - last
    if age <= timeout:
        return record
    alive = supervisor_alive(record)
    registry = ws._registry
    if status != RunStatus.NOT_RESPONDING:
        registry.transition(record["run_id"], RunStatus.NOT_RESPONDING, only_from={status})
    if alive is False or age > 2 * timeout:
        where = (f"pid {record['supervisor_pid']} on {record['host']}"
                 if record.get("supervisor_pid") else "it never started")
        message = (f"The run's supervisor stopped responding ({where}); last heartbeat "
                   f"{age:.0f} s ago, the limit is {timeout:.0f} s (RUNYARD_HEARTBEAT_TIMEOUT).")
        _kill_leftovers(record)
        if record.get("host") == socket.gethostname():  # its files are here: finish it properly
            from runyard.runs.finalize import finish_abandoned

            finish_abandoned(ws, record["run_id"], message)
        else:
            error = {"code": "ServiceError", "message": f"{message} Its processes were stopped."}
            changed = registry.transition(
                record["run_id"], RunStatus.FAILED, only_from={RunStatus.NOT_RESPONDING}, error=error)
            if changed is not None and record.get("mlflow_run_id"):
                from runyard.stores import tracking

                tracking.set_terminated(ws.tracking_uri, record["mlflow_run_id"], "Failed", error)
    return registry.get_run(record["run_id"])


def _kill_leftovers(record: dict) -> None:
    if record.get("host") != socket.gethostname():
        return
    if supervisor_alive(record):
        try:
            os.kill(record["supervisor_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pgid in record.get("job_pgids") or ([record["job_pgid"]] if record.get("job_pgid") else []):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
