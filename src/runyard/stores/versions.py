"""Versions that increase by one per name (environments, datasets, models): the next one is
taken by an insert that is retried when another writer took that number meanwhile."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa


def insert_next_version(engine, table, name: str, insert: Callable[[object, int], None],
                        reuse: Callable[[object], object] | None = None, what: str = "it"):
    """Insert version (latest + 1) of `name`: insert(connection, version) within a
    transaction; retried on a taken version. reuse(latest row or None) may return a result
    instead (an unchanged registration keeps its version) or raise (a change not allowed).
    Returns the new version, or what reuse returned."""
    for _ in range(20):
        with engine.connect() as conn:
            latest = conn.execute(sa.select(table).where(table.c.name == name)
                                  .order_by(table.c.version.desc()).limit(1)).first()
        if reuse is not None:
            found = reuse(latest)
            if found is not None:
                return found
        version = (latest.version if latest is not None else 0) + 1
        try:
            with engine.begin() as conn:
                insert(conn, version)
            return version
        except sa.exc.IntegrityError:  # another writer took this version: try the next
            continue
    raise RuntimeError(f"Could not register {what} {name!r}: too much contention.")
