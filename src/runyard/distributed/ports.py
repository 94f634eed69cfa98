"""Free TCP ports for a job's processes, reserved so two runs at once never get the same one.

The kernel picks a free port (bind to port 0); a file-locked table in the cache remembers
which ports active runs hold until they release them, since the job binds them only later.
"""

from __future__ import annotations

import socket

from runyard.locked_table import locked_table


def reserve(run_id: str, count: int, host: str = "127.0.0.1") -> list[int]:
    with locked_table("ports") as table:
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
    with locked_table("ports") as table:
        for port in [p for p, owner in table.items() if owner == run_id]:
            del table[port]
