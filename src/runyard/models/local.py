"""Registered models: files under <workspace>/models/<name>/<version>/<asset>, metadata in the
workspace registry, every version mirrored into the MLflow model registry.

Versions increase by one per name. A workspace-wide file lock serialises registrations on
this machine, so runyard's and MLflow's version numbers stay equal; the insert still retries
on a taken version for writers that do not share the lock.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from runyard import archives
from runyard.errors import ModelNotFoundException, UserErrorException, received
from runyard.models import mlflow_description
from runyard.stores.registry import dump_json_columns, load_json_columns
from runyard.stores.registry import models_table as table
from runyard.stores.versions import insert_next_version

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_JSON = ("tags", "properties", "resources")


def validate_name(name) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UserErrorException(
            "A model name is 1-255 letters, digits, dashes, underscores or dots, starting with a "
            f"letter or digit. Received: model_name={received(name)}")
    return name


def models_root(workspace) -> Path:
    return workspace.folder / "models"


def version_dir(workspace, name: str, version: int) -> Path:
    return models_root(workspace) / name / str(version)


@contextmanager
def _registration_lock(workspace):
    root = models_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class LocalModels:
    """The model versions of a workspace on this machine (the models interface of
    backends/__init__.py)."""

    def __init__(self, workspace):
        self.ws = workspace

    def register(self, name: str, source: Path, *, framework, framework_version, description,
                 tags: dict, properties: dict, resources: dict | None, run_id: str | None,
                 mlflow_run_id: str | None) -> dict:
        """Copy `source` (a file or folder) into the store as the next version of `name`."""
        from runyard.stores import tracking

        workspace = self.ws
        root = models_root(workspace)
        staging = root / ".staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        try:
            asset = source.name
            if source.is_dir():
                archives.copy_tree(source, staging / asset, "Model folder")
            else:
                shutil.copy2(source, staging / asset)
            described = mlflow_description.write(staging, asset, framework)
            row = {"name": name, "asset": asset, "framework": framework,
                   "framework_version": framework_version, "description": description,
                   "tags": json.dumps(tags), "properties": json.dumps(properties),
                   "resources": json.dumps(resources) if resources else None, "run_id": run_id}
            with _registration_lock(workspace):
                version = _insert_next_version(workspace, row, staging)
                target = version_dir(workspace, name, version)
                try:
                    mlflow_version = tracking.register_model_version(
                        workspace.tracking_uri, name, (target if described else target / asset).as_uri(),
                        mlflow_run_id, mlflow_description.description(description, name, version),
                        {**tags, "runyard.version": str(version), "runyard.framework": framework or ""})
                except Exception:
                    self._remove(name, version)
                    raise
                self._update(name, version, mlflow_version=str(mlflow_version))
            return self.get(name, version)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def get(self, name: str, version=None) -> dict:
        query = sa.select(table).where(table.c.name == name)
        if version is not None:
            try:
                query = query.where(table.c.version == int(version))
            except (TypeError, ValueError):
                raise UserErrorException(f"A model version is a number. Received: version={version!r}") from None
        with self.ws._registry.engine.connect() as conn:
            row = conn.execute(query.order_by(table.c.version.desc()).limit(1)).first()
        if row is None:
            what = f"{name!r} version {version}" if version is not None else repr(name)
            known = sorted({r["name"] for r in self.list()})
            raise ModelNotFoundException(
                f"No model {what} in workspace {self.ws.name!r}. Registered models: "
                f"{', '.join(known) or 'none'}. Register one with run.register_model(...) or "
                "Model.register(ws, model_path, model_name).")
        return _decode(row)

    def list(self, name: str | None = None, run_id: str | None = None,
             framework: str | None = None) -> list[dict]:
        """Models, newest first."""
        query = sa.select(table)
        if name is not None:
            query = query.where(table.c.name == name)
        if run_id is not None:
            query = query.where(table.c.run_id == run_id)
        if framework is not None:
            query = query.where(table.c.framework == framework)
        with self.ws._registry.engine.connect() as conn:
            records = [_decode(row) for row in conn.execute(query).all()]
        return sorted(records, key=lambda r: r["created_at"], reverse=True)

    def update_metadata(self, name: str, version: int, **values) -> dict:
        self._update(name, version, **values)
        return self.get(name, version)

    def delete(self, name: str, version: int) -> None:
        """Delete a version (refused while an endpoint serves it), here and in MLflow's registry."""
        from runyard.serving import store as endpoint_store
        from runyard.stores import tracking

        record = self.get(name, version)
        users = endpoint_store.endpoints_using(self.ws, name, record["version"])
        if users:
            raise UserErrorException(
                f"Model {name}:{record['version']} is used by endpoint(s) {', '.join(users)}. "
                "Delete them first.")
        self._remove(name, record["version"])
        if record["mlflow_version"]:
            tracking.delete_model_version(self.ws.tracking_uri, name, record["mlflow_version"])

    def path(self, record: dict) -> Path:
        """Where the version's file or folder is: <workspace>/models/<name>/<version>/<asset>."""
        return version_dir(self.ws, record["name"], record["version"]) / record["asset"]

    def url(self, record: dict) -> str:
        return str(self.path(record))

    def download(self, record: dict, into: Path) -> Path:
        """A copy of the version's file or folder in the folder `into`; returns its path."""
        source, staged = self.path(record), into / record["asset"]
        if source.is_dir():
            shutil.copytree(source, staged)
        else:
            shutil.copy2(source, staged)
        return staged

    def _update(self, name: str, version: int, **values) -> None:
        values = dump_json_columns(values, _JSON)
        with self.ws._registry.engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.name == name, table.c.version == version)
                         .values(**values))

    def _remove(self, name: str, version: int) -> None:
        with self.ws._registry.engine.begin() as conn:
            conn.execute(sa.delete(table).where(table.c.name == name, table.c.version == version))
        shutil.rmtree(version_dir(self.ws, name, version), ignore_errors=True)


def _insert_next_version(workspace, row: dict, staging: Path) -> int:
    """Move the staged files to the next free version folder and record it; returns the version."""
    def insert(conn, version: int) -> None:
        target = version_dir(workspace, row["name"], version)
        shutil.rmtree(target, ignore_errors=True)  # left by a registration that crashed
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
        try:
            conn.execute(sa.insert(table).values(version=version, created_at=time.time(), **row))
        except sa.exc.IntegrityError:  # another writer took this version: the next one, then
            target.rename(staging)
            raise

    return insert_next_version(workspace._registry.engine, table, row["name"], insert, what="model")


def _decode(row) -> dict:
    record = load_json_columns(row._mapping, _JSON)
    record["tags"] = record["tags"] or {}
    record["properties"] = record["properties"] or {}
    return record
