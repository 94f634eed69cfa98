"""Re-running a run: the same snapshot, environment definition, script and arguments."""

from __future__ import annotations

_REUSED = ("source_directory", "script", "arguments", "command", "compute_target", "interpreter",
           "max_run_duration_seconds", "environment_variables", "environment")


def rerun(run, tags: dict[str, str] | None = None):
    """A new run of `run`'s experiment from its snapshot (kept by the workspace); returns it."""
    from runyard.runs.run import Run

    spec = run._record["spec"]
    fields = {key: spec[key] for key in _REUSED if key in spec}
    run_id = run._ws.backend.runs.submit(run.experiment.name, fields, spec["compute_target"],
                                         {**(tags or {}), "runyard.rerunOf": run.id},
                                         snapshot_id=spec["snapshot_id"])
    return Run(run.experiment, run_id)
