"""Where a Run's logging calls go: a job's metrics file, the supervisor-less direct path for a
run that has ended, or the console for an offline run."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from runyard.runs.records import RecordWriter, StepCounter

try:
    from typing import Protocol
except ImportError:  # Python 3.7, in a job's interpreter: there the interface is only documentation
    Protocol = object  # type: ignore[assignment]


class Sink(Protocol):
    """Where a Run's logging calls go: FileSink (a job's metrics file, ingested by its
    supervisor), DirectSink (a run that has ended), ClientSink (runs/local.py: a client of a
    workspace on this machine), RemoteSink (runs/remote.py: a client of a server) and an offline
    run's console (runs/offline.py). Those that keep steps count them with a StepCounter."""

    @property
    def uploads_dir(self) -> Path:  # where files to upload are staged
        ...

    def scalar(self, name: str, value, step: int | None = None) -> None: ...
    def record(self, kind: str, **fields) -> None: ...


def stage_file(uploads_dir: Path, source, artifact_name: str) -> Path:
    """Copy a file (or stream) to be uploaded as `artifact_name`; the copy keeps the bytes even
    if the script deletes or rewrites the original before the upload happens."""
    target = uploads_dir / uuid.uuid4().hex / Path(artifact_name).name
    target.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(source, "read"):
        data = source.read()
        target.write_bytes(data if isinstance(data, bytes) else data.encode())
    else:
        shutil.copyfile(source, target)
    return target


class FileSink:
    """Records appended to the run's metrics folder, ingested by its supervisor."""

    def __init__(self, metrics_dir: Path, uploads_dir: Path):
        self.writer = RecordWriter(metrics_dir)
        self.uploads_dir = uploads_dir
        self.scalar = self.writer.scalar  # the hot path, without an extra call

    def record(self, kind: str, **fields) -> None:
        self.writer.record(kind, **fields)


class DirectSink:
    """For a run that has ended (no supervisor to ingest): records applied at once."""

    def __init__(self, ingestor, uploads_dir: Path):
        self.ingestor = ingestor
        self.uploads_dir = uploads_dir
        self._steps = StepCounter()

    def scalar(self, name, value, step=None) -> None:
        step = self._steps.take(name, step)
        self.ingestor.apply([{"k": "m", "n": name, "v": value, "s": step, "t": time.time()}])

    def record(self, kind: str, **fields) -> None:
        self.ingestor.apply([{"k": kind, "t": time.time(), **fields}])
