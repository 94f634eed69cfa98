"""`python -m runyard.serving.keeper <workspace folder> <endpoint name>`: keeps an endpoint's
server running. It starts the server (`python -m runyard.serving`) as its child and starts it
again when it dies without being asked to (killed, crashed), after 1, 2, 4, ... up to 60
seconds (back to 1 once a server ran for a minute); the server takes its previous port, so
the scoring URI stays. It stops when the endpoint is deleted, when it is told to (SIGTERM:
`delete()`, `reload()`), or when the server could not load the deployment (Failed: starting
it again would fail again).

The endpoint record's pid is the keeper's: stopping its process group stops the server and
the server's workers with it, and the server dies with its keeper (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from runyard.serving import store

MAX_BACKOFF = 60.0
STEADY = 60.0  # seconds a server must run for the next restart to wait 1 s again


def describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def keep(ws, name: str) -> int:
    from runyard.execution.processes import _die_with_parent

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    backoff, attempt = 1.0, 0
    while not stopping:
        started = time.monotonic()
        server = subprocess.Popen([sys.executable, "-m", "runyard.serving", str(ws.folder), name],
                                  stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        while True:
            try:
                code = server.wait()
                break
            except InterruptedError:  # pragma: no cover  (PEP 475 retries; kept for clarity)
                continue
        record = store.find(ws, name)
        if stopping or record is None or record["state"] == store.FAILED:
            return code
        if time.monotonic() - started > STEADY:
            backoff, attempt = 1.0, 0
        attempt += 1
        message = (f"The server process (pid {server.pid}) {describe(code)}; it is started again in "
                   f"{backoff:g} s (restart {attempt}).")
        print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", flush=True)
        store.update(ws, name, state=store.TRANSITIONING, error=message, served_generation=None)
        deadline = time.monotonic() + backoff
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        backoff = min(backoff * 2, MAX_BACKOFF)
    return 0


def main(argv: list[str]) -> int:
    from runyard.workspace import Workspace

    location, name = argv
    ws = Workspace._of_process(location)
    return keep(ws, name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
