"""The run that Run.get_context() returns outside a job: it prints what it would log."""

from __future__ import annotations

import uuid
from pathlib import Path

from runyard.runs.logging_api import LoggingMixin


class _PrintSink:
    uploads_dir = Path(".")  # (never used: an offline run prints files instead of staging them)

    def scalar(self, name, value, step=None) -> None:
        print(f"Attempted to log scalar metric {name}:\n{value}")

    def record(self, kind: str, **fields) -> None:
        what = {"l": "list metric", "r": "row metric", "tb": "table metric", "i": "image",
                "f": "file", "tag": "tag", "prop": "properties", "name": "display name"}[kind]
        print(f"Attempted to log {what} {fields.get('n', '')}:\n{fields.get('v', fields.get('p'))}")


class OfflineRun(LoggingMixin):
    """Offline stand-in for a run (v1: _OfflineRun)."""

    def __init__(self) -> None:
        self.id = f"OfflineRun_{uuid.uuid4()}"
        self._sink = _PrintSink()
        self.input_datasets: dict = {}
        self.parent = None

    def log_image(self, name, path=None, plot=None, description=""):
        print(f"Attempted to log image metric {name}:\n{path or plot}")

    def upload_file(self, name, path_or_stream, datastore_name=None):
        print(f"Attempted to upload file {name}:\n{path_or_stream}")

    def get_status(self) -> str:
        return "Running"

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False) -> dict:
        return {}

    def complete(self) -> None:
        pass

    def fail(self, error_details=None, error_code=None) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        pass

    def __repr__(self) -> str:
        return f"OfflineRun(id={self.id!r})"
