"""Registered environments in the workspace registry: versions increase by one per name."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from runyard.errors import NotFoundError, UserErrorException
from runyard.stores.registry import environments_table as table


def _comparable(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k not in ("version",)}


def register(workspace, name: str, definition: dict) -> str:
    if workspace.is_remote:
        return workspace._server.post_query("/environments", definition, name=name)["version"]
    engine = workspace._registry.engine
    for _ in range(20):
        with engine.connect() as conn:
            row = conn.execute(sa.select(table.c.version, table.c.definition)
                               .where(table.c.name == name)
                               .order_by(table.c.version.desc()).limit(1)).first()
        if row is not None and _comparable(json.loads(row.definition)) == _comparable(definition):
            return str(row.version)  # unchanged: v1 keeps the latest version
        version = (row.version if row else 0) + 1
        stored = {**definition, "version": str(version)}
        try:
            with engine.begin() as conn:
                conn.execute(sa.insert(table).values(name=name, version=version,
                                                     definition=json.dumps(stored),
                                                     created_at=time.time()))
            return str(version)
        except sa.exc.IntegrityError:  # another registration took this version: try the next
            continue
    raise RuntimeError(f"Could not register environment {name!r}: too much contention.")


def get(workspace, name: str, version=None) -> tuple[dict, int]:
    if workspace.is_remote:
        found = workspace._server.get("/environments/one", name=name,
                                      **({} if version is None else {"version": str(version)}))
        return found["definition"], found["version"]
    query = sa.select(table).where(table.c.name == name)
    if version is not None:
        try:
            query = query.where(table.c.version == int(version))
        except (TypeError, ValueError):
            raise UserErrorException(f"An environment version is a number. Received: version={version!r}") from None
    query = query.order_by(table.c.version.desc()).limit(1)
    with workspace._registry.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        from runyard.environments import curated

        known = sorted(latest_all(workspace)) + curated.names()
        what = f"{name!r} version {version}" if version is not None else repr(name)
        raise NotFoundError(
            f"No environment {what} in workspace {workspace.name!r}. Known: {', '.join(known)}. "
            "Register one with env.register(ws).")
    return json.loads(row.definition), row.version


def latest_all(workspace) -> dict[str, tuple[dict, int]]:
    if workspace.is_remote:
        return {name: tuple(pair) for name, pair in workspace._server.get("/environments").items()}
    with workspace._registry.engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.name, table.c.version)).all()
    return {row.name: (json.loads(row.definition), row.version) for row in rows}
