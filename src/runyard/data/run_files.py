"""A run's files as another run's input (v1 `run._get_outputs_datapath()`, the resume-training
sample): v1 keeps a run's files in the workspace's `workspaceartifactstore` datastore under
`ExperimentRun/dcid.<run id>/`. Here they are the run's artifacts in MLflow: a DataPath into
that datastore names the run and a folder of it, and the supervisor fetches those files into
the next run's folder in Preparing (the same way in team mode, through the server).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from runyard.errors import UserErrorException, received

ARTIFACT_STORE = "workspaceartifactstore"
_PATH = re.compile(r"^ExperimentRun/dcid\.(?P<run_id>[^/]+)(?:/(?P<prefix>.*))?$")


def path_on_datastore(run_id: str, prefix: str = "outputs") -> str:
    return f"ExperimentRun/dcid.{run_id}/{prefix}".rstrip("/")


class RunFiles:
    """A run's files under a folder, as the data a DatasetConsumptionConfig consumes."""

    id = None  # never a registered dataset

    def __init__(self, workspace, path: str):
        match = _PATH.match((path or "").strip("/"))
        if not match:
            raise UserErrorException(
                f"A path in {ARTIFACT_STORE} is ExperimentRun/dcid.<run id>/<folder> "
                f"(run._get_outputs_datapath() gives one). Received: path_on_datastore={received(path)}")
        self.workspace = workspace
        self.run_id = match.group("run_id")
        self.prefix = (match.group("prefix") or "").strip("/")

    @property
    def _definition(self) -> dict:
        return {"run_files": {"run_id": self.run_id, "prefix": self.prefix}}

    def _label(self) -> str:
        return f"run {self.run_id} {self.prefix + '/' if self.prefix else 'files'}"

    def _input_fields(self) -> dict:
        """What the run input stores (checked now: the run exists and has files there)."""
        _, sizes = _files(self.workspace, self.run_id, self.prefix)
        if not sizes:
            raise UserErrorException(
                f"Run {self.run_id} has no files under {self.prefix + '/' if self.prefix else '/'}; "
                "nothing to give the next run. Check the run's files with run.get_file_names().")
        return {**self._definition, "manifest": None}


def _files(workspace, run_id: str, prefix: str) -> tuple[str, dict[str, int]]:
    """The run's MLflow run id, and its files under `prefix` with their sizes."""
    from runyard.stores import tracking

    mlflow_run_id = workspace.backend.runs.get(run_id)["mlflow_run_id"]
    return mlflow_run_id, tracking.file_sizes(workspace.tracking_uri, mlflow_run_id, prefix or None)


def fetch(spec: dict, workspace, target: Path, emit: Callable[[str], None]) -> list[dict]:
    """Copy the run's files into `target` (which must be empty or absent); returns the files."""
    from runyard.stores import tracking

    run_id, prefix = spec["run_files"]["run_id"], spec["run_files"]["prefix"]
    mlflow_run_id, sizes = _files(workspace, run_id, prefix)
    emit(f"Input {spec['name']!r} (run {run_id} {prefix or ''}): {len(sizes):,} files, "
         f"{sum(sizes.values()) / 1e6:,.1f} MB -> {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        got = tracking.download(workspace.tracking_uri, mlflow_run_id, prefix, Path(tmp) / "files")
        if target.exists():
            target.rmdir()  # empty (checked by the caller): replaced whole, so never half-filled
        shutil.move(str(got), str(target))
    base = f"{prefix}/" if prefix else ""
    return [{"path": name[len(base):], "url": f"run:{run_id}/{name}", "size": size, "sha256": None}
            for name, size in sorted(sizes.items())]
