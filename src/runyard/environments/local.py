"""Registered environments in the workspace registry: versions increase by one per name."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from runyard.errors import NotFoundError, UserErrorException
from runyard.stores.registry import environments_table as table
from runyard.stores.versions import insert_next_version


def _comparable(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k not in ("version",)}


class LocalEnvironments:
    """The registered environments of a workspace on this machine (the environments
    interface of backends/__init__.py)."""

    def __init__(self, workspace):
        self.ws = workspace

    def register(self, name: str, definition: dict) -> str:
        """The next version of `name`, or the latest when its definition is unchanged (v1)."""
        def unchanged(latest):
            if latest is not None and _comparable(json.loads(latest.definition)) == _comparable(definition):
                return str(latest.version)
            return None

        def insert(conn, version: int) -> None:
            stored = {**definition, "version": str(version)}
            conn.execute(sa.insert(table).values(name=name, version=version, created_at=time.time(),
                                                 definition=json.dumps(stored)))

        return str(insert_next_version(self.ws._registry.engine, table, name, insert, unchanged,
                                       "environment"))

    def get(self, name: str, version=None) -> tuple[dict, int]:
        query = sa.select(table).where(table.c.name == name)
        if version is not None:
            try:
                query = query.where(table.c.version == int(version))
            except (TypeError, ValueError):
                raise UserErrorException(f"An environment version is a number. Received: version={version!r}") from None
        query = query.order_by(table.c.version.desc()).limit(1)
        with self.ws._registry.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            from runyard.environments import curated

            known = sorted(self.latest_all()) + curated.names()
            what = f"{name!r} version {version}" if version is not None else repr(name)
            raise NotFoundError(
                f"No environment {what} in workspace {self.ws.name!r}. Known: {', '.join(known)}. "
                "Register one with env.register(ws).")
        return json.loads(row.definition), row.version

    def latest_all(self) -> dict[str, tuple[dict, int]]:
        with self.ws._registry.engine.connect() as conn:
            rows = conn.execute(sa.select(table).order_by(table.c.name, table.c.version)).all()
        return {row.name: (json.loads(row.definition), row.version) for row in rows}
