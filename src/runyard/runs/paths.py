"""The files of one run inside a workspace: runs/<run_id>/..."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @classmethod
    def of(cls, ws, run_id: str) -> RunPaths:
        return cls(ws.runs_dir / run_id)

    @property
    def user_logs(self) -> Path:
        return self.root / "user_logs"

    @property
    def std_log(self) -> Path:
        return self.user_logs / "std_log.txt"

    @property
    def system_logs(self) -> Path:
        return self.root / "system_logs"

    @property
    def supervisor_log(self) -> Path:
        return self.system_logs / "supervisor.log"

    @property
    def preparing_log(self) -> Path:
        return self.system_logs / "preparing.log"

    @property
    def inputs_log(self) -> Path:
        """The files (with content hashes) each dataset input really gave the job."""
        return self.system_logs / "input_datasets.json"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def ingest_state(self) -> Path:
        """How far each metrics file was ingested: whoever ingests next goes on from there."""
        return self.metrics_dir / ".ingested.json"

    @property
    def uploads_dir(self) -> Path:
        return self.root / "uploads"

    @property
    def structured_metrics(self) -> Path:
        return self.root / "structured_metrics.json"

    @property
    def reserve(self) -> Path:
        """Room set aside while the run is active: freed on a full disk to record the failure."""
        return self.root / ".reserve"

    @property
    def supervisor_lock(self) -> Path:
        """Held by the run's supervisor while it lives: a second one started by mistake leaves."""
        return self.root / ".supervisor.lock"

    @property
    def start_gate(self) -> Path:
        """A FIFO that holds the run's supervisor in Queued while it exists (runs/gate.py)."""
        return self.root / ".start-gate"

    @property
    def workdir(self) -> Path:
        return self.root / "wd"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def create(self) -> None:
        for folder in (self.user_logs, self.system_logs, self.metrics_dir, self.uploads_dir):
            folder.mkdir(parents=True, exist_ok=True)
