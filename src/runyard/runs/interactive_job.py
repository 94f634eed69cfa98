"""The job of an interactive run (`Experiment.start_logging`): the run is a normal supervised
run (Queued, Running, Finalizing; heartbeats, ingestion, cancel, the UI) whose one process is
this waiter instead of a script. The notebook or script that started the run logs to it as any
client does; `run.complete()` / `run.fail()` write an "end" record, which this process reads
from the run's metrics folder and then exits, so the supervisor finalizes the run with that
outcome (runs/ingest.py keeps the record for it).

When the starting process runs on this machine it is watched: if it ends first (a kernel
restarted, a script that crashed) this process writes the "end" record itself, Failed, saying so.

    python -m runyard.runs.interactive_job <starting pid> <its host>

Stdlib only and valid on Python 3.7: it runs in the run's environment.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from runyard import settings
from runyard.runs.records import RecordReader, RecordWriter

POLL_SECONDS = 0.2
END = "end"  # the record kind: {"v": {"status": "Completed" | "Failed", "code", "message"}}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait(metrics_dir: str, pid: int, host: str) -> dict:
    """Until an end record arrives (returned), or the starting process is gone."""
    reader = RecordReader(metrics_dir)
    watched = pid > 0 and host == socket.gethostname()
    while True:
        for record in reader.read_new():
            if record.get("k") == END:
                return record.get("v") or {}
        reader.commit()
        if watched and not _alive(pid):
            outcome = {"status": "Failed", "code": "UserError", "message": (
                f"The process that started this interactive run (pid {pid} on {host}) ended "
                "before calling run.complete() or run.fail(): the kernel was restarted or "
                "the script stopped.")}
            RecordWriter(metrics_dir).record(END, v=outcome)
            return outcome
        time.sleep(POLL_SECONDS)


def main(argv: list) -> int:
    pid, host = int(argv[0]), argv[1]
    outcome = wait(os.environ[settings.METRICS_DIR], pid, host)
    print(f"Interactive run ended: {outcome.get('status')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
