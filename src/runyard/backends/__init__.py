"""Where a workspace's resources live. Each workspace gets its backend once, where it is made:
`local` (runyard's registry through SQLAlchemy, and files: an embedded workspace, or the
workspace a `runyard server` serves) or `server` (HTTP to that server). Each resource has one
small interface, below, with an implementation of each kind; the v1 classes, the CLI and the
server's routes call `workspace.backend.<resource>` and never ask which kind they have.

Records travel as plain dicts (JSON-able: the same on both sides of the server's API).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Models(Protocol):
    """Registered model versions (models/store.py: LocalModels; models/remote.py: ServerModels)."""

    def register(self, name: str, source: Path, *, framework, framework_version, description,
                 tags: dict, properties: dict, resources: dict | None, run_id: str | None,
                 mlflow_run_id: str | None) -> dict: ...
    def get(self, name: str, version=None) -> dict: ...
    def list(self, name: str | None = None, run_id: str | None = None,
             framework: str | None = None) -> list[dict]: ...
    def update_metadata(self, name: str, version: int, **values) -> dict: ...
    def delete(self, name: str, version: int) -> None: ...
    def url(self, record: dict) -> str: ...
    def download(self, record: dict, into: Path) -> Path: ...


class Environments(Protocol):
    """Registered environments (environments/store.py: LocalEnvironments, ServerEnvironments)."""

    def register(self, name: str, definition: dict) -> str: ...
    def get(self, name: str, version=None) -> tuple[dict, int]: ...
    def latest_all(self) -> dict[str, tuple[dict, int]]: ...


class ComputeTargets(Protocol):
    """Ray cluster compute targets (compute/service.py: LocalComputeTargets; compute/remote.py:
    ServerComputeTargets). Records of a server's targets come without their Ray token."""

    def find(self, name: str) -> dict | None: ...
    def get(self, name: str) -> dict: ...
    def list(self) -> list[dict]: ...
    def create(self, name: str, provisioning) -> None: ...
    def attach(self, name: str, attach) -> None: ...
    def alive(self, name: str) -> int: ...
    def status(self, name: str) -> dict: ...
    def nodes(self, name: str) -> list[dict]: ...
    def delete(self, name: str) -> None: ...


class Datastores(Protocol):
    """Datastores (data/local.py: LocalDatastores; data/remote.py: ServerDatastores). Through a
    server, configs come without their keys and files travel as archives."""

    def config(self, name: str) -> dict: ...
    def names(self) -> list[str]: ...
    def default_name(self) -> str: ...
    def register_local_folder(self, name: str, folder, overwrite: bool, create_if_not_exists: bool) -> None: ...
    def register_s3(self, **settings) -> None: ...
    def set_default(self, name: str) -> None: ...
    def unregister(self, name: str) -> None: ...
    def upload(self, name: str, pairs: list[tuple[Path, str]], overwrite: bool, emit) -> None: ...
    def download(self, name: str, prefix: str, target: Path, overwrite: bool, show_progress: bool) -> int: ...


class Datasets(Protocol):
    """File datasets (data/local.py: LocalDatasets; data/remote.py: ServerDatasets), as records
    {"definition", "manifest", "registration"}."""

    def entries(self, definition: dict) -> list[dict]: ...
    def pinned(self, definition: dict, show_progress: bool = True) -> list[dict]: ...
    def register(self, name: str, definition: dict, description, tags: dict,
                 create_new_version: bool, show_progress: bool = True) -> dict: ...
    def get_by_name(self, name: str, version="latest") -> dict: ...
    def get_by_id(self, dataset_id: str) -> dict: ...
    def latest_all(self) -> dict[str, dict]: ...
    def versions(self, name: str) -> list[dict]: ...
    def download(self, record: dict, target: Path, overwrite: bool, label: str) -> list[str]: ...
    def mount(self, record: dict, point: Path, label: str) -> None: ...


class Backend:
    """A workspace's resources, each behind its interface; made on first use of each (so that
    a job, which has only the standard library, never imports what it does not call)."""

    def __init__(self, workspace, kind: str):
        self.workspace, self.kind = workspace, kind  # kind: "local" | "server"
        self._made: dict[str, object] = {}

    def _get(self, resource: str, local: str, server: str):
        found = self._made.get(resource)
        if found is None:
            import importlib

            module, _, cls = (local if self.kind == "local" else server).rpartition(".")
            found = self._made[resource] = getattr(importlib.import_module(module), cls)(self.workspace)
        return found

    @property
    def models(self) -> Models:
        return self._get("models", "runyard.models.store.LocalModels",
                         "runyard.models.remote.ServerModels")

    @property
    def environments(self) -> Environments:
        return self._get("environments", "runyard.environments.store.LocalEnvironments",
                         "runyard.environments.store.ServerEnvironments")

    @property
    def compute(self) -> ComputeTargets:
        return self._get("compute", "runyard.compute.service.LocalComputeTargets",
                         "runyard.compute.remote.ServerComputeTargets")

    @property
    def datastores(self) -> Datastores:
        return self._get("datastores", "runyard.data.local.LocalDatastores",
                         "runyard.data.remote.ServerDatastores")

    @property
    def datasets(self) -> Datasets:
        return self._get("datasets", "runyard.data.local.LocalDatasets",
                         "runyard.data.remote.ServerDatasets")
