"""Starting a sweep on this machine: its run (the parent of every trial) recorded like any
run, its spec the trials' template plus the sweep's settings, and its controller started in
its own session (sweeps/controller.py)."""

from __future__ import annotations

import uuid

from runyard.errors import HyperDriveConfigException
from runyard.runs.spec import RunSpec
from runyard.runs.submit import place, record, start
from runyard.sweeps.spec import checked


def create_and_start(ws, experiment: str, fields: dict, target, snapshot_id: str,
                     tags: dict[str, str], sweep: dict) -> str:
    """Place the trials' template (the target must exist and fit it), record the sweep run
    (v1's ids: HD_<uuid>) and start its controller; returns the sweep's run id."""
    checked(sweep)
    place(ws, fields, target)
    if sweep.get("resume_child_runs") and fields["compute_target"] != "local":
        raise HyperDriveConfigException(
            "resume_child_runs hands each resumed trial the earlier trial's outputs as a folder on "
            "this machine: run it on the local target.")
    for earlier in [*(sweep.get("resume_from") or []), *(sweep.get("resume_child_runs") or [])]:
        ws._registry.get_run(earlier)  # (a run of this workspace)
    run_id = f"HD_{uuid.uuid4()}"
    spec = RunSpec(run_id=run_id, experiment=experiment, snapshot_id=snapshot_id, **fields).model_dump()
    record(ws, run_id, experiment, {**spec, "sweep": sweep}, tags)
    start(ws, run_id, "runyard.sweeps.controller")
    return run_id
