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


CACHE = "RUNYARD_CACHE"


def runyard_cache() -> Path:
    """RUNYARD_CACHE: built environments and downloaded data (default ~/.cache/runyard)."""
    return Path(os.environ.get(CACHE) or Path.home() / ".cache" / "runyard").expanduser()


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


def system_metrics_interval() -> float:
    """RUNYARD_SYSTEM_METRICS_INTERVAL: seconds between a run's system metric samples (CPU,
    memory, GPUs; default 5; 0 turns sampling off)."""
    return _float("RUNYARD_SYSTEM_METRICS_INTERVAL", 5.0)


GPUS = "RUNYARD_GPUS"


def gpus() -> str | None:
    """RUNYARD_GPUS: the GPUs runyard hands to runs on this machine, as indexes ("0,1"; ""
    for none). Default: every GPU NVML finds. Without NVML, indexes given here are taken as
    GPUs as they are (how GPU assignment is tested on machines without one)."""
    return os.environ.get(GPUS)


def node_orphan_timeout() -> float:
    """RUNYARD_NODE_ORPHAN_TIMEOUT: seconds a Ray node keeps a job whose supervisor stopped
    calling (it was killed) before stopping its processes (default 60; read by the nodes)."""
    return _float("RUNYARD_NODE_ORPHAN_TIMEOUT", 60.0)


def snapshot_max_bytes() -> int:
    """RUNYARD_SNAPSHOT_MAX_MB: the largest source folder a run snapshots (default 300)."""
    return _int("RUNYARD_SNAPSHOT_MAX_MB", 300) * 1024 * 1024


def snapshot_max_files() -> int:
    """RUNYARD_SNAPSHOT_MAX_FILES: the most files a run's snapshot may hold (default 2000)."""
    return _int("RUNYARD_SNAPSHOT_MAX_FILES", 2000)


def pyenv_root() -> Path:
    """PYENV_ROOT: where pyenv's Python versions are looked for (default ~/.pyenv)."""
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def workspace_name() -> str:
    """RUNYARD_WORKSPACE_NAME: the name of the workspace a process runyard started works in."""
    return os.environ.get(WORKSPACE_NAME) or "default"


# Set by the user for `runyard server` and its clients.
SERVER_TOKEN = "RUNYARD_SERVER_TOKEN"  # the workspace token `runyard server` checks
BACKEND_STORE_URI = "RUNYARD_BACKEND_STORE_URI"  # a team workspace's database (kept off the command line)
WORKSPACE_TOKEN = "RUNYARD_WORKSPACE_TOKEN"  # a client's token for a team server (a job's: its run token)

# Set by runyard in the environment of the processes it starts (supervisors, watchdogs,
# endpoint keepers and servers, provisioners) and of every job process.
WORKSPACE_NAME = "RUNYARD_WORKSPACE_NAME"
RUN_ID = "RUNYARD_RUN_ID"
WORKSPACE_DIR = "RUNYARD_WORKSPACE_DIR"
METRICS_DIR = "RUNYARD_METRICS_DIR"
EXPERIMENT = "RUNYARD_EXPERIMENT"
SERVER_URL = "RUNYARD_SERVER_URL"  # in a served workspace: the server jobs call (with a run token)
INPUT_DATASETS = "RUNYARD_INPUT_DATASETS"  # JSON {name: path}: Run.get_context().input_datasets
DEPLOYED_MODELS = "RUNYARD_DEPLOYED_MODELS"  # an entry script's models (Model.get_model_path)
PROCESS_RANK = "RUNYARD_PROCESS_RANK"  # the job process's rank (its global index)
RANKS_DIR = "RUNYARD_RANKS_DIR"  # where each MPI rank writes its exit code (distributed/plan.py)
NODE_WORKDIR = "RUNYARD_NODE_WORKDIR"  # an MPI rank's working folder on its own node (Ray targets)
MODEL_DIR = "RUNYARD_MODEL_DIR"  # an entry script's AZUREML_MODEL_DIR under runyard's name
MPI_NODES = "RUNYARD_MPI_NODES"  # mpirun on Ray: JSON {"rynode0": that node's launcher actor, ...}
MPI_RUN_ID = "RUNYARD_MPI_RUN_ID"
MPI_TARGET = "RUNYARD_MPI_TARGET"  # JSON: {"name", "address", "secret"} of the cluster


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
