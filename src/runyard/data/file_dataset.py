"""v1 FileDataset: a reference to files (local, http(s), s3, datastore paths), optionally
registered as an immutable, versioned set of files."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from runyard.data import sources as sources_mod
from runyard.data.dataset_consumption_config import DatasetConsumptionConfig, validate_name
from runyard.errors import UserErrorException, received


def validate_dataset_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 250 or any(c in name for c in "/:\\"):
        raise UserErrorException("A dataset name is a non-empty string of at most 250 characters "
                                 f"without '/', ':' or '\\'. Received: name={received(name)}")
    return name


class FileDataset:
    """Create with Dataset.File.from_files; get registered ones with Dataset.get_by_name."""

    def __init__(self):
        raise UserErrorException("Create a FileDataset with Dataset.File.from_files(path) or get a "
                                 "registered one with Dataset.get_by_name(ws, name).")

    @classmethod
    def _from_record(cls, workspace, record: dict) -> FileDataset:
        """A dataset from its record (data/local.py): definition, manifest, registration."""
        definition = record["definition"]
        return cls._from_sources(definition["sources"], workspace, definition["transforms"],
                                 record["manifest"], record["registration"])

    @property
    def _record(self) -> dict:
        return {"definition": self._definition, "manifest": self._manifest,
                "registration": self._registration}

    @classmethod
    def _from_sources(cls, sources: list[dict], workspace, transforms=None, manifest=None,
                      registration=None) -> FileDataset:
        dataset = cls.__new__(cls)
        dataset._workspace = workspace
        dataset._definition = {"sources": sources, "transforms": list(transforms or [])}
        dataset._manifest = manifest  # pinned entries of a registered version, else None
        dataset._registration = registration or {}
        return dataset

    # -- v1 properties ----------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._registration.get("name")

    @property
    def version(self) -> int | None:
        return self._registration.get("version")

    @property
    def id(self) -> str | None:
        return self._registration.get("id")

    @property
    def description(self) -> str | None:
        return self._registration.get("description")

    @property
    def tags(self) -> dict:
        return dict(self._registration.get("tags") or {})

    def _label(self) -> str:
        if self.name:
            return f"{self.name}:{self.version}"
        return ", ".join(sources_mod.describe_source(s) for s in self._definition["sources"])

    def __repr__(self) -> str:
        shown = {"source": [sources_mod.describe_source(s) for s in self._definition["sources"]],
                 "definition": [t[0] for t in self._definition["transforms"]] or ["GetFiles"]}
        if self.name:
            shown["registration"] = {"id": self.id, "name": self.name, "version": self.version,
                                     "description": self.description, "workspace": self._workspace.name}
        return "FileDataset\n" + json.dumps(shown, indent=2)

    # -- files ------------------------------------------------------------------------------
    def _datasets(self):
        """Where the files are listed, pinned and read: the workspace's backend (its server's,
        for a client of one), or this machine for a dataset made without a workspace."""
        if self._workspace is not None:
            return self._workspace.backend.datasets
        from runyard.data.local import LocalDatasets

        return LocalDatasets(None)

    def _datastores(self, name: str) -> dict:
        from runyard.data.datastore import load_config

        if self._workspace is None:
            raise UserErrorException(f"Datastore {name!r} needs the dataset's workspace.")
        return load_config(self._workspace, name)

    def _entries(self) -> list[dict]:
        """The files: the pinned manifest of a registered version, else a fresh listing."""
        if self._manifest is not None:
            return [dict(e) for e in self._manifest]
        return self._datasets().entries(self._definition)

    def _pinned(self, show_progress: bool = True) -> list[dict]:
        """The entries with content hashes for local files (what a registration stores)."""
        if self._manifest is not None:
            return self._entries()
        return self._datasets().pinned(self._definition, show_progress)

    def to_path(self) -> list[str]:
        """The dataset's file paths, relative to its root (v1: with a leading '/')."""
        return ["/" + e["path"] for e in self._entries()]

    def download(self, target_path=None, overwrite=False, ignore_not_found=False) -> list[str]:
        """Copy the files to target_path (a new temporary folder when None); returns the paths."""
        target = Path(target_path) if target_path is not None else Path(tempfile.mkdtemp(prefix="dataset-"))
        return self._datasets().download(self._record, target, overwrite, self._label())

    def mount(self, mount_point=None, **kwargs):
        """A context manager with the files under mount_point (see data/views.py: links, no FUSE)."""
        from runyard.data.mount import MountContext

        return MountContext(self, mount_point)

    # -- consumption in runs ------------------------------------------------------------------
    def as_named_input(self, name) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(validate_name(name), self)

    def as_mount(self, path_on_compute=None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(None, self, "mount", path_on_compute)

    def as_download(self, path_on_compute=None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(None, self, "download", path_on_compute)

    def as_hdfs(self):
        raise UserErrorException("as_hdfs needs a Spark cluster; use as_mount() or as_download().")

    # -- transforms (new, unregistered datasets) ---------------------------------------------
    def _with(self, transform: list) -> FileDataset:
        if self._manifest is not None:  # a registered version: transform its pinned files
            manifest = sources_mod.apply_transforms([dict(e) for e in self._manifest], [transform])
            return FileDataset._from_sources(self._definition["sources"], self._workspace,
                                             [*self._definition["transforms"], transform], manifest)
        return FileDataset._from_sources(self._definition["sources"], self._workspace,
                                         [*self._definition["transforms"], transform])

    def take(self, count: int) -> FileDataset:
        return self._with(["take", _count(count, "count")])

    def skip(self, count: int) -> FileDataset:
        return self._with(["skip", _count(count, "count")])

    def take_sample(self, probability: float, seed: int | None = None) -> FileDataset:
        return self._with(["sample", _fraction(probability, "probability"), _seed(seed), 0])

    def random_split(self, percentage: float, seed: int | None = None) -> tuple[FileDataset, FileDataset]:
        """Two datasets: about `percentage` of the files, and the rest (no file in both)."""
        fraction, seed = _fraction(percentage, "percentage"), _seed(seed)
        return self._with(["sample", fraction, seed, 0]), self._with(["sample", fraction, seed, 1])

    # -- registration -------------------------------------------------------------------------
    def register(self, workspace, name, description=None, tags=None, create_new_version=False) -> FileDataset:
        if tags is not None and not isinstance(tags, dict):
            raise UserErrorException(f"tags must be a dict. Received: tags={received(tags)}")
        if self._workspace is None:
            self._workspace = workspace
        record = workspace.backend.datasets.register(
            validate_dataset_name(name), self._definition, description, tags or {}, create_new_version)
        return FileDataset._from_record(workspace, record)


def _count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserErrorException(f"{what} is a whole number >= 0. Received: {what}={received(value)}")
    return value


def _fraction(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UserErrorException(f"{what} is a number between 0 and 1 (exclusive). "
                                 f"Received: {what}={received(value)}")
    return float(value)


def _seed(seed) -> int:
    if seed is None:
        return random.randrange(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserErrorException(f"seed is an integer. Received: seed={received(seed)}")
    return seed
