"""Endpoint records in the workspace registry: what each endpoint serves, its state, its
server process and port. The record outlives the process; readers notice a dead server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import sqlalchemy as sa

from runyard.errors import (
    UserErrorException,
    WebserviceExistsError,
    WebserviceNotFoundError,
    received,
)
from runyard.stores.registry import dump_json_columns, load_json_columns
from runyard.stores.registry import endpoints_table as table

TRANSITIONING, HEALTHY, UNHEALTHY, FAILED = "Transitioning", "Healthy", "Unhealthy", "Failed"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_JSON = ("spec", "keys")


def validate_name(name) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserErrorException(
            "A service name is 3-32 characters: lowercase letters, digits and dashes, starting "
            f"with a letter and not ending with a dash. Received: name={received(name)}")
    return name


def endpoint_dir(workspace, name: str) -> Path:
    return workspace.folder / "endpoints" / name


def log_path(workspace, name: str) -> Path:
    return endpoint_dir(workspace, name) / "server.log"


def _encode(values: dict) -> dict:
    return dump_json_columns(values, _JSON)


def _decode(row) -> dict:
    return load_json_columns(row._mapping, _JSON)


def insert(workspace, name: str, spec: dict, keys: list[str] | None) -> None:
    now = time.time()
    try:
        with workspace._registry.engine.begin() as conn:
            conn.execute(sa.insert(table).values(**_encode(dict(
                name=name, state=TRANSITIONING, spec=spec, generation=1, keys=keys,
                created_at=now, updated_at=now))))
    except sa.exc.IntegrityError:
        raise WebserviceExistsError(
            f"A service named {name!r} already exists. Choose another name, pass overwrite=True, "
            "or change it with service.update(...).") from None


def find(workspace, name: str) -> dict | None:
    with workspace._registry.engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    return _decode(row) if row else None


def get(workspace, name: str) -> dict:
    record = find(workspace, name)
    if record is None:
        known = [r["name"] for r in list_all(workspace)]
        raise WebserviceNotFoundError(
            f"No service named {name!r} in workspace {workspace.name!r}. Services: "
            f"{', '.join(known) or 'none'} (runyard endpoint list).")
    return record


def list_all(workspace) -> list[dict]:
    with workspace._registry.engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.created_at)).all()
    return [_decode(r) for r in rows]


def update(workspace, name: str, *, only_states: set[str] | None = None, **values) -> bool:
    """Change the record; with `only_states`, only while its state is one of them (compare and
    set). Returns whether a row changed."""
    query = sa.update(table).where(table.c.name == name)
    if only_states is not None:
        query = query.where(table.c.state.in_(only_states))
    with workspace._registry.engine.begin() as conn:
        return conn.execute(query.values(updated_at=time.time(), **_encode(values))).rowcount == 1


def delete_row(workspace, name: str) -> None:
    with workspace._registry.engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.name == name))


def endpoints_using(workspace, model_name: str, version: int) -> list[str]:
    return [r["name"] for r in list_all(workspace)
            if any(m["name"] == model_name and m["version"] == version for m in r["spec"]["models"])]


def server_alive(record: dict) -> bool | None:
    """Whether the endpoint's server process runs (None: it runs on another host, or no pid yet)."""
    from runyard.runs.liveness import process_alive

    return process_alive(record["pid"], record["pid_started"], record["host"])


def checked(workspace, record: dict) -> dict:
    """The record, after marking it Unhealthy/Failed when its server process is gone."""
    if record["state"] not in (TRANSITIONING, HEALTHY):
        return record
    if server_alive(record) is not False:
        return record
    state = FAILED if record["state"] == TRANSITIONING else UNHEALTHY
    error = (f"The server process (pid {record['pid']}) is gone: it crashed, was killed, or the "
             "machine restarted. service.get_logs() shows its last lines; service.reload() "
             f"(runyard endpoint restart {record['name']}) starts it again.")
    update(workspace, record["name"], only_states={record["state"]}, state=state, error=error)
    return find(workspace, record["name"]) or record
