"""Interactive runs (v1: `Experiment.start_logging`): a run that a notebook or script logs to
as it goes, ended by `run.complete()` / `run.fail()` or a `with` block.

It is submitted like any run, on the local target in the caller's interpreter, and its one
process is a waiter (runs/interactive_job.py), so everything a submitted run has holds here
too: a supervisor with heartbeats, ingestion of what is logged, cancel, the run's page, and the
same finalization. Ending it writes an "end" record; the waiter exits and the supervisor ends
the run with the requested outcome. The caller's `./outputs` (or the `outputs` folder it named)
is uploaded when the run completes, as v1 does.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from runyard.errors import UserErrorException, received

JOB_MODULE = "runyard.runs.interactive_job"
START_TIMEOUT = 120.0  # seconds to reach Running (the supervisor starts in about a second)
END_TIMEOUT = 300.0  # seconds for the supervisor to finalize after complete()/fail()


def start(experiment, outputs=None, snapshot_directory=None, display_name=None):
    from runyard.runs.config import ScriptRunConfig
    from runyard.runs.status import RunStatus

    outputs_dir = _outputs_folder(outputs)
    empty = None
    if snapshot_directory is None:  # v1: no snapshot
        empty = tempfile.mkdtemp(prefix="runyard-interactive-")
        source = empty
    else:
        source = str(snapshot_directory)
        if not Path(source).is_dir():
            raise UserErrorException(
                f"start_logging(snapshot_directory=...) takes a folder to snapshot, or None for "
                f"no snapshot. Received: {received(snapshot_directory)}")
    try:
        run = experiment.submit(ScriptRunConfig(
            source_directory=source,
            command=["python", "-m", JOB_MODULE, str(os.getpid()), socket.gethostname()]))
    finally:
        if empty:
            shutil.rmtree(empty, ignore_errors=True)
    run._outputs_dir = outputs_dir
    if display_name:
        run.display_name = display_name
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        status = RunStatus(run.get_status())
        if status == RunStatus.RUNNING:
            return run
        if status.is_terminal():
            details = run.get_details()
            raise UserErrorException(f"The interactive run {run.id} could not start: "
                                     f"{(details.get('error') or {}).get('error', {}).get('message', status.value)}")
        if time.monotonic() > deadline:
            return run  # (still starting: logging goes to it all the same)
        time.sleep(0.05)


def _outputs_folder(outputs) -> Path | None:
    if outputs is False:
        return None
    if outputs is None:
        return Path("outputs").resolve()
    if isinstance(outputs, (str, os.PathLike)):
        return Path(outputs).resolve()
    raise UserErrorException("start_logging(outputs=...) takes a folder to upload when the run "
                             f"completes, None for ./outputs, or False. Received: {received(outputs)}")


def is_interactive(record: dict) -> bool:
    command = record["spec"].get("command") or []
    return len(command) >= 3 and command[1:3] == ["-m", JOB_MODULE]


def end(run, outcome: dict) -> None:
    """Ask the run's waiter to end the run with `outcome`, and return once it has ended."""
    from runyard.runs.status import RunStatus

    if outcome["status"] == "Completed":
        folder = getattr(run, "_outputs_dir", None)
        if folder is not None and folder.is_dir() and any(folder.iterdir()):
            run.upload_folder("outputs", str(folder))
    run._emit("end", v=outcome)
    run.flush()
    deadline = time.monotonic() + END_TIMEOUT
    while not RunStatus(run.get_status()).is_terminal():
        if time.monotonic() > deadline:
            raise UserErrorException(
                f"Run {run.id} was asked to end ({outcome['status']}) but is still "
                f"{run.get_status()} after {END_TIMEOUT:.0f} s; look at its system_logs/supervisor.log.")
        time.sleep(0.05)
