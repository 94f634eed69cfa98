"""Database failures told in one line: which store, what is wrong, what to do. A damaged
SQLite file, a full disk and an unreachable PostgreSQL otherwise surface as driver tracebacks
a hundred lines long."""

from __future__ import annotations

from runyard.errors import StoreError

_DAMAGED = ("file is not a database", "malformed", "database corruption", "no such table")
_UNREACHABLE = ("connection refused", "could not connect", "connection to server", "timeout expired",
                "could not translate host name", "server closed the connection", "no route to host",
                "connection timed out", "name or service not known", "password authentication failed")


def is_database_error(exc: BaseException) -> bool:
    import sqlite3

    kinds: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    try:
        from sqlalchemy.exc import DBAPIError

        kinds += (DBAPIError,)
    except ImportError:  # a job environment: the standard library only
        pass
    return isinstance(exc, kinds) or \
        type(exc).__module__.startswith("psycopg")


def store_error(exc: BaseException, where: str) -> StoreError | None:
    """The StoreError for a database failure in `where` (a store's name and location), or
    None when `exc` is not one."""
    if not is_database_error(exc):
        return None
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    lower = first.lower()
    if any(word in lower for word in _DAMAGED):
        return StoreError(f"{where} is damaged ({first}). Restore it from a backup; runyard does not "
                          "replace a store that holds data.")
    if "disk is full" in lower or "no space left" in lower:
        return StoreError(f"{where}: the disk is full ({first}). Free space there and try again.")
    if any(word in lower for word in _UNREACHABLE):
        return StoreError(f"Cannot reach {where} ({first}). Is the database server running, and "
                          "are the URL and its password (RUNYARD_BACKEND_STORE_URI) right?")
    if "unable to open" in lower or "readonly" in lower or "read-only" in lower:
        return StoreError(f"Cannot open {where} ({first}). Check that the folder exists and is "
                          "writable by this user.")
    if "locked" in lower:
        return StoreError(f"{where} stayed locked by other processes ({first}); try again.")
    return StoreError(f"{where} failed: {first}")


def masked(url: str) -> str:
    """A database URL with its password hidden, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) is a write that found its disk full."""
    import errno

    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(exc).lower()
        if "disk is full" in text or "no space left" in text:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
