"""A run's start gate: a FIFO in its folder that holds its supervisor in Queued until somebody
opens the gate.

A sweep starts its next trial ahead of time (recorded, its supervisor forked and its workspace
connections open) and holds it here; when a running trial ends, opening the gate lets the held
one go at once instead of starting a run from nothing. Opening writes a byte to the FIFO (the
supervisor waits on it with select) and removes it (a supervisor that arrives later goes
straight through). A held supervisor also looks at its run every GIVE_UP_CHECK seconds and
goes on when the run is no longer Queued (canceled, or failed by a reader because its sweep's
controller died), so it never waits for a controller that is gone.
"""

from __future__ import annotations

import errno
import os
import select
from collections.abc import Callable
from pathlib import Path

GIVE_UP_CHECK = 0.5  # seconds between looks at the held run's status


def close(gate: Path) -> None:
    """Make the gate (before the run's supervisor starts)."""
    os.mkfifo(gate, 0o600)


def open_(gate: Path) -> None:
    """Let the held supervisor go (now, or as soon as it reaches the gate)."""
    try:
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return  # open already
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # (ENXIO: nobody waits at it yet)
            raise
    else:
        try:
            os.write(fd, b"g")
        finally:
            os.close(fd)
    gate.unlink(missing_ok=True)


def wait(gate: Path, give_up: Callable[[], bool]) -> None:
    """Wait until the gate is opened (or is not there), or until give_up() says so."""
    try:
        fd = os.open(gate, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return
    try:
        # Linux reports a FIFO readable only once a writer has come (and written or left).
        while gate.exists() and not give_up():
            readable, _, _ = select.select([fd], [], [], GIVE_UP_CHECK)
            if readable:
                return
    finally:
        os.close(fd)
        gate.unlink(missing_ok=True)
