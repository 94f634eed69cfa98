"""Free TCP ports for a job's processes, reserved so two runs at once never get the same one.

The kernel picks a free port (bind to port 0); a file-locked table in the cache remembers
which ports active runs hold until they release them, since the job binds them only later.
"""

from __future__ import annotations

import fcntl
import json
import socket
from contextlib import contextmanager

from runyard import settings


@contextmanager
def _table():
    path = settings.runyard_cache() / "ports.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            table = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            table = {}
        yield table
        path.write_text(json.dumps(table))


def reserve(run_id: str, count: int, host: str = "127.0.0.1") -> list[int]:
    with _table() as table:
        taken = {int(p) for p in table}
        ports: list[int] = []
        while len(ports) < count:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
            if port not in taken and port not in ports:
                ports.append(port)
        for port in ports:
            table[str(port)] = run_id
    return ports


def release(run_id: str) -> None:
    with _table() as table:
        for port in [p for p, owner in table.items() if owner == run_id]:
            del table[port]
