"""Every environment variable runyard reads, declared in one place with its default."""

from __future__ import annotations

import os
from pathlib import Path


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        from runyard.errors import UserErrorException

        raise UserErrorException(
            f"Environment variable {name} must be a number of seconds. Received: {name}={raw!r}"
        ) from None


def runyard_home() -> Path:
    """RUNYARD_HOME: where the default workspace lives (default ~/.runyard)."""
    return Path(os.environ.get("RUNYARD_HOME") or Path.home() / ".runyard").expanduser()


def runyard_cache() -> Path:
    """RUNYARD_CACHE: built environments and downloaded data (default ~/.cache/runyard)."""
    return Path(os.environ.get("RUNYARD_CACHE") or Path.home() / ".cache" / "runyard").expanduser()


def debug() -> bool:
    """RUNYARD_DEBUG=1: the CLI prints tracebacks."""
    return os.environ.get("RUNYARD_DEBUG", "") not in ("", "0", "false")


def heartbeat_interval() -> float:
    """RUNYARD_HEARTBEAT_INTERVAL: seconds between supervisor heartbeats (default 2)."""
    return _float("RUNYARD_HEARTBEAT_INTERVAL", 2.0)


def heartbeat_timeout() -> float:
    """RUNYARD_HEARTBEAT_TIMEOUT: a heartbeat older than this marks a run NotResponding (default 30)."""
    return _float("RUNYARD_HEARTBEAT_TIMEOUT", 30.0)


def kill_grace() -> float:
    """RUNYARD_KILL_GRACE: seconds between SIGTERM and SIGKILL when stopping a job (default 5)."""
    return _float("RUNYARD_KILL_GRACE", 5.0)


def ingest_interval() -> float:
    """RUNYARD_INGEST_INTERVAL: seconds between metric ingests and ./logs uploads (default 1)."""
    return _float("RUNYARD_INGEST_INTERVAL", 1.0)


def node_orphan_timeout() -> float:
    """RUNYARD_NODE_ORPHAN_TIMEOUT: seconds a Ray node keeps a job whose supervisor stopped
    calling (it was killed) before stopping its processes (default 60; read by the nodes)."""
    return _float("RUNYARD_NODE_ORPHAN_TIMEOUT", 60.0)


# Set by the supervisor in the environment of every job process.
RUN_ID = "RUNYARD_RUN_ID"
WORKSPACE_DIR = "RUNYARD_WORKSPACE_DIR"
METRICS_DIR = "RUNYARD_METRICS_DIR"
SERVER_URL = "RUNYARD_SERVER_URL"  # in a served workspace: the server jobs call (with a run token)
WORKSPACE_TOKEN = "RUNYARD_WORKSPACE_TOKEN"  # a client's token for a team server (a job's: its run token)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        from runyard.errors import UserErrorException

        raise UserErrorException(f"Environment variable {name} must be a whole number. "
                                 f"Received: {name}={raw!r}") from None


def upload_max_bytes() -> int:
    """RUNYARD_UPLOAD_MAX_MB: the largest archive (model, datastore files) a server accepts or
    a client unpacks (default 20480: 20 GB)."""
    return _int("RUNYARD_UPLOAD_MAX_MB", 20480) * 1024 * 1024


def archive_max_members() -> int:
    """RUNYARD_ARCHIVE_MAX_MEMBERS: the most files and folders one archive may hold (default 100000)."""
    return _int("RUNYARD_ARCHIVE_MAX_MEMBERS", 100_000)


def http_header_timeout() -> float:
    """RUNYARD_HTTP_HEADER_TIMEOUT: seconds a client of `runyard server` or an endpoint has to
    send a request's headers before the connection is closed (default 10)."""
    return _float("RUNYARD_HTTP_HEADER_TIMEOUT", 10.0)


def http_body_timeout() -> float:
    """RUNYARD_HTTP_BODY_TIMEOUT: seconds a request body may pause between two pieces
    (default 60)."""
    return _float("RUNYARD_HTTP_BODY_TIMEOUT", 60.0)
