"""Experiment: a named group of runs (v1: azureml.core.Experiment)."""

from __future__ import annotations

import re

from runyard.errors import UserErrorException, received

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class Experiment:
    """Example: run = Experiment(ws, "digits").submit(ScriptRunConfig(...))"""

    def __init__(self, workspace, name: str, _skip_name_validation: bool = False, **kwargs):
        if not _skip_name_validation and (not isinstance(name, str) or not _NAME_RE.match(name)):
            raise UserErrorException(
                "An experiment name is 1-255 letters, digits, dashes or underscores, starting "
                f"with a letter or digit. Received: name={received(name)}")
        self.workspace = workspace
        self.name = name

    def submit(self, config, tags: dict | None = None, **kwargs):
        """Start the run in the background and return it at once."""
        from runyard.runs import config as run_config
        from runyard.runs.run import Run
        from runyard.train.hyperdrive.runconfig import HyperDriveConfig

        if isinstance(config, HyperDriveConfig):
            return self._submit_sweep(config, tags)
        if hasattr(config, "to_script_run_config"):  # a (deprecated) estimator
            config = config.to_script_run_config()
        fields = run_config.validate(config, self.workspace)
        tags = _string_tags(tags)
        run_id = self.workspace.backend.runs.submit(self.name, fields, config.run_config.target, tags)
        return Run(self, run_id)

    def _submit_sweep(self, config, tags: dict | None):
        from runyard.runs import config as run_config
        from runyard.train.hyperdrive.run import HyperDriveRun

        fields = run_config.validate(config.run_config, self.workspace)
        tags = _string_tags(tags)
        run_id = self.workspace.backend.runs.submit_sweep(
            self.name, fields, config.run_config.run_config.target, tags, config._sweep())
        return HyperDriveRun(self, run_id)

    def start_logging(self, *args, outputs=None, snapshot_directory=None, display_name=None, **kwargs):
        """An interactive run (v1): log to it from a notebook or script, then run.complete() or
        run.fail(), or use it as `with exp.start_logging() as run:`. `outputs`: the folder
        uploaded as the run's outputs when it completes (None: ./outputs; False: none);
        `snapshot_directory`: a folder to snapshot with it (None: no snapshot)."""
        from runyard.runs import interactive

        return interactive.start(self, outputs, snapshot_directory, display_name)

    def get_runs(self, type=None, tags=None, properties=None, include_children=False, status=None):
        """The runs of this experiment, newest first (a generator, as in v1)."""
        from runyard.runs.run import Run, _class_of

        for record in self.workspace.backend.runs.list(experiment=self.name):
            if record.get("parent_run_id") and not include_children:
                continue
            if tags and not _matches(record["tags"], tags):
                continue
            if properties and not _matches(record["properties"], properties):
                continue
            if status and record["status"].value != status:
                continue
            yield _class_of(record, Run)(self, record["run_id"])

    @staticmethod
    def list(workspace, experiment_name=None, view_type=None, tags=None):
        names = workspace.backend.runs.experiments()
        return [Experiment(workspace, n) for n in names if experiment_name in (None, n)]

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, workspace={self.workspace.name!r})"

    def _repr_html_(self) -> str:
        from runyard.ui import reprs

        return reprs.experiment(self)


def _string_tags(tags) -> dict[str, str]:
    if tags is not None and not isinstance(tags, dict):
        raise UserErrorException(f"tags must be a dict. Received: tags={received(tags)}")
    return {str(k): "" if v is None else str(v) for k, v in (tags or {}).items()}


def _matches(have: dict, want) -> bool:
    if isinstance(want, str):
        return want in have
    if isinstance(want, (list, tuple)):
        return all(key in have for key in want)
    return all(str(have.get(k)) == str(v) for k, v in want.items())
