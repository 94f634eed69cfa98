"""How a failed job is described: exit code or signal, the Python error, the last lines."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from runyard.runs.follow import tail

_PY_ERROR = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")


def describe_failure(exit_code: int | None, std_log: Path, lines: int = 20,
                     process: str | None = None, rank: int | None = None) -> dict:
    last = tail(std_log, lines)
    code = "UserError"
    if exit_code is not None and exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.Signals._value2member_map_ else str(-exit_code)
        cause = f"was killed by signal {name} ({-exit_code})"
        if -exit_code in (signal.SIGKILL, signal.SIGTERM):  # runyard did not send it: it came
            code = "SystemError"  # from outside (the kernel's OOM killer, a user, a reboot)
            cause += " from outside the run (the kernel's out-of-memory killer, or a user)"
    else:
        cause = f"exited with code {exit_code}"
    label = process if process and process.startswith("rank") else f"{process} (rank {rank})"
    cause = f"Process {label} {cause}" if process else f"The script {cause}"
    python_error = next((line.strip() for line in reversed(last.splitlines())
                         if _PY_ERROR.match(line.strip())), None)
    message = f"{cause}: {python_error}" if python_error else f"{cause}."
    error = {"code": code, "message": message, "exitCode": exit_code, "logTail": last}
    if process:
        error.update(process=process, rank=rank)
    return error
