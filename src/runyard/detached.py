"""Processes that outlive the one that starts them: run supervisors, endpoint servers and
compute provisioners, each in its own session with its output in a log file."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path


def start(argv: list[str], log_path: Path, cwd: Path | str, env: dict[str, str]) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env, cwd=str(cwd))
    # While the starter lives (`runyard server`, a notebook), it reaps the process when it
    # ends, so no zombie is left behind; a starter that exits first hands it to init.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc
