"""A small JSON table in the cache that several processes update: read, changed and written
back under an exclusive lock (the ports and GPUs runs hold: distributed/ports.py, gpus.py)."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager

from runyard import settings


@contextmanager
def locked_table(name: str) -> Iterator[dict]:
    """The table `<cache>/<name>.json`, held under `<name>.lock`; what the caller changes in
    the dict is written back when the block ends."""
    path = settings.runyard_cache() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            table = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            table = {}
        yield table
        path.write_text(json.dumps(table))
