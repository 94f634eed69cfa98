"""Where a Run's logging calls go: a job's metrics file, the supervisor-less direct path for a
run that has ended, or the console for an offline run."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from runyard.runs.records import RecordWriter


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
        self._steps: dict[str, int] = {}

    def scalar(self, name, value, step=None) -> None:
        if step is None:
            step = self._steps.get(name, 0)
        self._steps[name] = int(step) + 1
        self.ingestor.apply([{"k": "m", "n": name, "v": value, "s": step, "t": time.time()}])

    def record(self, kind: str, **fields) -> None:
        self.ingestor.apply([{"k": kind, "t": time.time(), **fields}])
