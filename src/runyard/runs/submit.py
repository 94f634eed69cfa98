"""Submitting a run on this machine: place it, record it (with its MLflow run) and start its
detached supervisor (Experiment.submit validates first, runs/local.py snapshots).

Everything that can fail on bad input fails before anything is created; once the run is
recorded, a failure to start the supervisor marks it Failed with the reason.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
import uuid

from runyard import detached, settings
from runyard.compute.placement import check_fits, resolve_target
from runyard.runs import gate, mlflow_fields
from runyard.runs.paths import RunPaths
from runyard.runs.spec import RunSpec
from runyard.runs.status import RunStatus


def new_run_id(experiment: str) -> str:
    return f"{experiment}_{int(time.time())}_{uuid.uuid4().hex[:8]}"


def place(ws, fields: dict, target) -> None:
    """Resolve the compute target into `fields`; refuse a job the target can never run."""
    fields["compute_target"] = resolve_target(ws, target)
    check_fits(ws, fields["compute_target"], fields.get("distribution"))


def create_and_start(ws, experiment: str, fields: dict, snapshot_id: str, tags: dict[str, str],
                     parent: dict | None = None, run_id: str | None = None, warm=None,
                     held: bool = False) -> str:
    """Record a validated run (Queued) with its MLflow run, and start its supervisor; returns
    the run's id. For a sweep's trials: `parent`, the sweep's record; `warm`, its
    WarmSupervisors, which fork the supervisor when they can; `held`, the supervisor waits at
    the run's start gate until the sweep opens it (runs/gate.py)."""
    run_id = run_id or new_run_id(experiment)
    spec = RunSpec(run_id=run_id, experiment=experiment, snapshot_id=snapshot_id, **fields)
    record(ws, run_id, experiment, spec.model_dump(), tags, parent)
    if held:
        gate.close(RunPaths.of(ws, run_id).start_gate)
    if warm is None or not warm.start(run_id):
        start(ws, run_id, "runyard.supervisor")
    return run_id


def record(ws, run_id: str, experiment: str, spec: dict, tags: dict[str, str],
           parent: dict | None = None) -> None:
    """The run's MLflow run (a child of its parent's, so MLflow's UI nests it), its folder and
    its registry record, Queued."""
    from runyard.stores import tracking

    experiment_id = tracking.ensure_experiment(ws.tracking_uri, experiment, ws.artifact_root_uri)
    name = mlflow_fields.display_name(run_id)
    mlflow_tags = {"runyard.run_id": run_id, "mlflow.user": _user(),
                   "mlflow.source.name": spec.get("script") or " ".join(spec.get("command") or []),
                   **mlflow_fields.tags(spec, _user()), **tags}
    if parent is not None:
        mlflow_tags["mlflow.parentRunId"] = parent["mlflow_run_id"]
    mlflow_run_id = tracking.create_run(ws.tracking_uri, experiment_id, name, mlflow_tags)
    arguments = mlflow_fields.params(spec.get("arguments") or [])
    if arguments:
        tracking.log_params(ws.tracking_uri, mlflow_run_id, arguments)
    if spec.get("inputs"):
        tracking.log_dataset_inputs(ws.tracking_uri, mlflow_run_id, spec["inputs"])
    RunPaths.of(ws, run_id).create()
    ws._registry.insert_run(
        run_id=run_id, experiment=experiment, status=RunStatus.QUEUED,
        target=spec["compute_target"], created_at=time.time(), mlflow_run_id=mlflow_run_id,
        mlflow_experiment_id=experiment_id, spec=spec, tags=tags,
        parent_run_id=parent["run_id"] if parent is not None else None,
        properties={"runyard.submittedBy": _user(), "runyard.snapshotId": spec["snapshot_id"],
                    mlflow_fields.DISPLAY_NAME: name},
        history=[[RunStatus.QUEUED.value, time.time()]])


def start(ws, run_id: str, module: str) -> None:
    """Start the run's own process (`python -m <module> <workspace> <run id>`: a supervisor,
    or a sweep's controller) in its own session: it outlives this process and its terminal.
    A failure to start it fails the run with the reason."""
    from runyard.stores import tracking

    try:
        detached.start([sys.executable, "-m", module, str(ws.folder), run_id],
                       RunPaths.of(ws, run_id).supervisor_log, ws.folder, process_env(ws))
    except OSError as exc:
        error = {"code": "ServiceError", "message": f"Could not start the run's {module}: {exc}"}
        ws._registry.transition(run_id, RunStatus.FAILED, error=error)
        tracking.set_terminated(ws.tracking_uri, ws._registry.get_run(run_id)["mlflow_run_id"], "Failed", error)
        raise


def process_env(ws) -> dict[str, str]:
    """The environment of the processes a run starts with (its supervisor, a sweep's
    controller and warm supervisors): this one's, and the workspace's name."""
    return {**os.environ, settings.WORKSPACE_NAME: ws.name}


def _user() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in some containers
        return socket.gethostname()
