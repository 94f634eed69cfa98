"""Compute target records in the workspace registry. The Ray auth token lives here (like a
datastore's keys) and is handed only to processes that connect to the cluster."""

from __future__ import annotations

import re
import time

import sqlalchemy as sa

from runyard.errors import (
    ComputeTargetExistsError,
    ComputeTargetNotFoundError,
    UserErrorException,
    received,
)
from runyard.stores.registry import compute_targets_table as table
from runyard.stores.registry import dump_json_columns, load_json_columns

CREATING, SUCCEEDED, FAILED, DELETING = "Creating", "Succeeded", "Failed", "Deleting"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
_JSON = ("config", "processes")
RESERVED = {"local"}


def validate_name(name) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UserErrorException(
            "A compute target name is 3-32 characters: letters, digits and dashes, starting with "
            f"a letter and not ending with a dash. Received: name={received(name)}")
    if name in RESERVED:
        raise UserErrorException(f"{name!r} is the built-in compute target of this machine; "
                                 "choose another name.")
    return name


def insert(workspace, name: str, kind: str, config: dict, state: str, **values) -> None:
    now = time.time()
    try:
        with workspace._registry.engine.begin() as conn:
            conn.execute(sa.insert(table).values(**dump_json_columns(dict(
                name=name, type=kind, state=state, config=config, created_at=now,
                updated_at=now, **values), _JSON)))
    except sa.exc.IntegrityError:
        raise ComputeTargetExistsError(
            f"A compute target named {name!r} already exists in workspace {workspace.name!r}. "
            "Use ComputeTarget(workspace=ws, name=...) to get it, or choose another name.") from None


def find(workspace, name: str) -> dict | None:
    with workspace._registry.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    return load_json_columns(row._mapping, _JSON) if row else None


def get(workspace, name: str) -> dict:
    record = find(workspace, name)
    if record is None:
        known = ["local", *(r["name"] for r in list_all(workspace))]
        raise ComputeTargetNotFoundError(
            f"Compute target {name!r} does not exist in workspace {workspace.name!r}. "
            f"Available: {', '.join(known)}. Create it with ComputeTarget.create(ws, name, "
            "AmlCompute.provisioning_configuration(max_nodes=...)) or attach a Ray cluster with "
            "ComputeTarget.attach(ws, name, RayCompute.attach_configuration(address=...)).")
    return record


def list_all(workspace) -> list[dict]:
    with workspace._registry.engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.created_at)).all()
    return [load_json_columns(r._mapping, _JSON) for r in rows]


def update(workspace, name: str, **values) -> None:
    values["updated_at"] = time.time()
    with workspace._registry.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.name == name)
                     .values(**dump_json_columns(values, _JSON)))


def remove(workspace, name: str) -> None:
    with workspace._registry.engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.name == name))
