"""Re-running a run: the same snapshot, environment definition, script and arguments."""

from __future__ import annotations

from runyard.errors import UserErrorException
from runyard.runs import snapshot
from runyard.runs.submit import create_and_start

_REUSED = ("source_directory", "script", "arguments", "command", "compute_target", "interpreter",
           "max_run_duration_seconds", "environment_variables", "environment")


def rerun(run, tags: dict[str, str] | None = None):
    spec = run._record["spec"]
    if not snapshot.manifest_path(run._ws.snapshots_dir, spec["snapshot_id"]).exists():
        raise UserErrorException(f"The snapshot of run {run.id} is no longer in the workspace; "
                                 "it cannot be re-run.")
    fields = {key: spec[key] for key in _REUSED if key in spec}
    return create_and_start(run.experiment, fields, spec["snapshot_id"],
                            {**(tags or {}), "runyard.rerunOf": run.id})
