"""Registered dataset versions in the workspace registry: a version is immutable (its pinned
file list is stored with it) and versions increase by one per name."""

from __future__ import annotations

import json
import time
import uuid

import sqlalchemy as sa

from runyard.errors import AlreadyExistsError, NotFoundError, UserErrorException, received
from runyard.stores.registry import datasets_table as table

_PINNED_FIELDS = ("path", "url", "datastore", "size", "sha256", "etag", "last_modified")


def validate_name(name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 250 or any(c in name for c in "/:\\"):
        raise UserErrorException("A dataset name is a non-empty string of at most 250 characters "
                                 f"without '/', ':' or '\\'. Received: name={received(name)}")
    return name


def _same_files(a: list[dict], b: list[dict]) -> bool:
    key = lambda entries: [tuple(e.get(f) for f in _PINNED_FIELDS) for e in entries]  # noqa: E731
    return key(a) == key(b)


def register(workspace, name: str, definition: dict, manifest: list[dict], description,
             tags: dict, create_new_version: bool):
    if workspace.is_remote:  # the server lists and pins the files, and records the version
        from runyard.data import served

        return served.register(workspace, name, definition, description, tags, create_new_version)
    engine = workspace._registry.engine
    for _ in range(20):
        latest = _latest_row(workspace, name)
        if latest is not None:
            if json.loads(latest.definition) == definition and _same_files(json.loads(latest.manifest), manifest):
                return _dataset(workspace, latest)  # unchanged: v1 returns the existing version
            if not create_new_version:
                raise AlreadyExistsError(
                    f"A dataset named {name!r} is already registered (version {latest.version}) with "
                    "other files. Pass create_new_version=True to register a new version, or use "
                    "another name.")
        version = (latest.version if latest is not None else 0) + 1
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(table).values(
                    name=name, version=version, id=str(uuid.uuid4()), definition=json.dumps(definition),
                    manifest=json.dumps(manifest), description=description,
                    tags=json.dumps({str(k): str(v) for k, v in tags.items()}), created_at=time.time()))
        except sa.exc.IntegrityError:  # a concurrent registration took this version
            continue
        return _dataset(workspace, _latest_row(workspace, name, version))
    raise RuntimeError(f"Could not register dataset {name!r}: too much contention.")


def _latest_row(workspace, name: str, version: int | None = None):
    query = sa.select(table).where(table.c.name == name)
    if version is not None:
        query = query.where(table.c.version == version)
    with workspace._registry.engine.connect() as conn:
        return conn.execute(query.order_by(table.c.version.desc()).limit(1)).first()


def _dataset(workspace, row):
    from runyard.data.file_dataset import FileDataset

    definition = json.loads(row.definition)
    return FileDataset._from_sources(
        definition["sources"], workspace, definition["transforms"], json.loads(row.manifest),
        {"name": row.name, "version": row.version, "id": row.id, "description": row.description,
         "tags": json.loads(row.tags or "{}"), "created_at": row.created_at})


def get_by_name(workspace, name, version="latest"):
    validate_name(name)
    if workspace.is_remote:
        from runyard.data import served

        return served.get(workspace, name=name, version=str(version or "latest"))
    number = None
    if version not in ("latest", None):
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise UserErrorException(f"version is a number or 'latest'. Received: version={received(version)}") from None
    row = _latest_row(workspace, name, number)
    if row is None:
        known = ", ".join(sorted(names(workspace))) or "none yet"
        what = f"{name!r} version {number}" if number is not None else repr(name)
        raise NotFoundError(f"No dataset {what} in workspace {workspace.name!r} (registered: "
                                 f"{known}). Register one with dataset.register(ws, name).")
    return _dataset(workspace, row)


def get_by_id(workspace, dataset_id: str):
    if workspace.is_remote:
        from runyard.data import served

        return served.get(workspace, id=str(dataset_id))
    with workspace._registry.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == str(dataset_id))).first()
    if row is None:
        raise NotFoundError(f"No dataset with id {dataset_id!r} in workspace {workspace.name!r}.")
    return _dataset(workspace, row)


def names(workspace) -> list[str]:
    if workspace.is_remote:
        return list(latest_all(workspace))
    with workspace._registry.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(table.c.name).distinct()).all()]


def latest_all(workspace) -> dict:
    """name -> the latest version of every registered dataset."""
    if workspace.is_remote:
        from runyard.data import served

        return served.latest_all(workspace)
    with workspace._registry.engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.name, table.c.version)).all()
    latest = {row.name: row for row in rows}
    return {name: _dataset(workspace, row) for name, row in sorted(latest.items())}


def versions(workspace, name: str) -> list:
    if workspace.is_remote:
        from runyard.data import served

        return served.versions(workspace, name)
    with workspace._registry.engine.connect() as conn:
        rows = conn.execute(sa.select(table).where(table.c.name == name).order_by(table.c.version)).all()
    return [_dataset(workspace, row) for row in rows]
