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
from runyard.runs.paths import RunPaths
from runyard.runs.spec import RunSpec
from runyard.runs.status import RunStatus


def new_run_id(experiment: str) -> str:
    return f"{experiment}_{int(time.time())}_{uuid.uuid4().hex[:8]}"


def place(ws, fields: dict, target) -> None:
    """Resolve the compute target into `fields`; refuse a job the target can never run."""
    fields["compute_target"] = resolve_target(ws, target)
    check_fits(ws, fields["compute_target"], fields.get("distribution"))


def create_and_start(ws, experiment: str, fields: dict, snapshot_id: str, tags: dict[str, str]) -> str:
    """Record a validated run (Queued) with its MLflow run, and start its supervisor; returns
    the run's id."""
    from runyard.stores import tracking

    run_id = new_run_id(experiment)
    spec = RunSpec(run_id=run_id, experiment=experiment, snapshot_id=snapshot_id, **fields)

    experiment_id = tracking.ensure_experiment(ws.tracking_uri, experiment, ws.artifact_root_uri)
    mlflow_tags = {"runyard.run_id": run_id, "mlflow.user": _user(),
                   "mlflow.source.name": spec.script or " ".join(spec.command or []), **tags}
    mlflow_run_id = tracking.create_run(ws.tracking_uri, experiment_id, run_id, mlflow_tags)
    if spec.inputs:
        tracking.log_dataset_inputs(ws.tracking_uri, mlflow_run_id, spec.inputs)
    paths = RunPaths.of(ws, run_id)
    paths.create()
    ws._registry.insert_run(
        run_id=run_id, experiment=experiment, status=RunStatus.QUEUED,
        target=spec.compute_target, created_at=time.time(), mlflow_run_id=mlflow_run_id,
        mlflow_experiment_id=experiment_id, spec=spec.model_dump(), tags=tags,
        properties={"runyard.submittedBy": _user(), "runyard.snapshotId": snapshot_id},
        history=[[RunStatus.QUEUED.value, time.time()]])
    try:
        start_supervisor(ws, run_id, paths)
    except OSError as exc:
        ws._registry.transition(run_id, RunStatus.FAILED, error={
            "code": "ServiceError", "message": f"Could not start the run's supervisor: {exc}"})
        tracking.set_terminated(ws.tracking_uri, mlflow_run_id, "Failed")
        raise
    return run_id


def start_supervisor(ws, run_id: str, paths: RunPaths) -> None:
    """Start the supervisor in its own session: it outlives this process and its terminal."""
    env = dict(os.environ)
    env[settings.WORKSPACE_NAME] = ws.name
    detached.start([sys.executable, "-m", "runyard.supervisor", str(ws.location), run_id],
                   paths.supervisor_log, ws.location, env)


def _user() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in some containers
        return socket.gethostname()
