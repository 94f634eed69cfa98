"""Runs of a workspace on this machine (an embedded workspace, or the one `runyard server`
serves): records in the registry, supervised by a detached supervisor each, metrics and files
in MLflow's stores. Readers notice a dead supervisor (runs/liveness.py)."""

from __future__ import annotations

import builtins
from pathlib import Path

from runyard.runs import liveness
from runyard.runs.paths import RunPaths
from runyard.runs.status import RunStatus


class LocalRuns:
    def __init__(self, workspace):
        self.ws = workspace
        self.registry = workspace._registry

    def get(self, run_id: str) -> dict:
        return liveness.check(self.ws, self.registry.get_run(run_id))

    def list(self, experiment: str | None = None, parent_run_id: str | None = None,
             limit: int | None = None):
        for record in self.registry.list_runs(experiment, parent_run_id, limit):
            yield liveness.check(self.ws, record)

    def experiments(self) -> builtins.list[str]:
        return self.registry.experiments()

    def submit(self, experiment: str, fields: dict, target, tags: dict[str, str],
               snapshot_id: str | None = None) -> str:
        """Place, snapshot (unless given: a re-run), record and start a validated run."""
        from runyard.runs import snapshot
        from runyard.runs.submit import create_and_start, place

        place(self.ws, fields, target)
        if snapshot_id is None:
            snapshot_id = snapshot.take(Path(fields["source_directory"]), self.ws.snapshots_dir)
        else:
            snapshot.check_present(self.ws.snapshots_dir, snapshot_id)
        return create_and_start(self.ws, experiment, fields, snapshot_id, tags)

    def submit_sweep(self, experiment: str, fields: dict, target, tags: dict[str, str],
                     sweep: dict, snapshot_id: str | None = None) -> str:
        """A sweep: its run and controller (runyard/sweeps); trials use one snapshot."""
        from runyard.runs import snapshot
        from runyard.sweeps.submit import create_and_start

        if snapshot_id is None:
            snapshot_id = snapshot.take(Path(fields["source_directory"]), self.ws.snapshots_dir)
        else:
            snapshot.check_present(self.ws.snapshots_dir, snapshot_id)
        return create_and_start(self.ws, experiment, fields, target, snapshot_id, tags, sweep)

    def cancel(self, run_id: str) -> None:
        """Ask the supervisor to stop every process of the run; returns at once."""
        record = self.get(run_id)
        status = record["status"]
        if status.is_terminal() or status == RunStatus.FINALIZING:
            return  # (v1: too late to cancel a run that is finishing; not an error)
        if status == RunStatus.QUEUED and not record.get("supervisor_pid"):
            if self.registry.transition(run_id, RunStatus.CANCELED, only_from={RunStatus.QUEUED}):
                return
        self.registry.transition(run_id, RunStatus.CANCEL_REQUESTED, only_from=liveness.ACTIVE - {
            RunStatus.CANCEL_REQUESTED, RunStatus.FINALIZING})

    def metrics(self, record: dict, name: str | None = None) -> dict:
        from runyard.runs.ingest import v1_metrics

        metrics = v1_metrics(self.ws.tracking_uri, record["mlflow_run_id"],
                             RunPaths.of(self.ws, record["run_id"]).structured_metrics)
        if name is not None:
            return {name: metrics[name]} if name in metrics else {}
        return metrics

    def log_source(self, run_id: str, log: str) -> Path:
        """A run log's file (log: a RunPaths attribute, e.g. "std_log")."""
        return getattr(RunPaths.of(self.ws, run_id), log)

    def sink(self, run_id: str) -> ClientSink:
        return ClientSink(self, run_id)


class ClientSink:
    """A client's run.log() calls: into the run's metrics folder while its supervisor ingests
    it, straight into the stores once the run has ended."""

    def __init__(self, runs: LocalRuns, run_id: str):
        self.runs, self.run_id = runs, run_id
        self.paths = RunPaths.of(runs.ws, run_id)
        self.uploads_dir = self.paths.uploads_dir
        self._active = None

    def scalar(self, name, value, step=None) -> None:
        self._now().scalar(name, value, step)

    def record(self, kind: str, **fields) -> None:
        self._now().record(kind, **fields)

    def _now(self):
        from runyard.runs.sinks import DirectSink, FileSink

        record = self.runs.get(self.run_id)
        if not record["status"].is_terminal():
            if self._active is None:
                self._active = FileSink(self.paths.metrics_dir, self.uploads_dir)
            return self._active
        from runyard.runs.ingest import Ingestor

        ingestor = Ingestor(self.runs.ws.tracking_uri, record["mlflow_run_id"], self.runs.registry,
                            self.run_id, self.paths.structured_metrics, self.uploads_dir)
        return DirectSink(ingestor, self.uploads_dir)
