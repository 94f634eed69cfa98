"""The MLflow adapter: run history, metrics and artifacts of a workspace.

MLflow is imported here only, and only when a call needs it (its import costs about a
second); `import runyard` and most CLI commands never reach this module.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from pathlib import Path

# MLflow must never try to reach the internet from a workspace: no telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

_clients: dict[str, object] = {}
_lock = threading.Lock()

# v1 status -> MLflow RunStatus name for terminated runs.
MLFLOW_END_STATUS = {"Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}


SQLITE_BUSY_TIMEOUT = 30  # seconds a writer waits for another (many supervisors share the file)


def client(tracking_uri: str):
    """A cached MlflowClient for this tracking URI (the store's engine is costly to open). Its
    store is opened here, at once, so that a damaged or missing one is told in one line."""
    with _lock:
        found = _clients.get(tracking_uri)
        if found is None:
            from mlflow.tracking import MlflowClient

            from runyard.stores.failures import masked, store_error

            # mlflow configures its loggers at import; quiet them afterwards.
            logging.getLogger("mlflow").setLevel(logging.WARNING)
            logging.getLogger("alembic").setLevel(logging.WARNING)
            try:
                with _opened(tracking_uri) as store_uri:
                    found = MlflowClient(tracking_uri=store_uri)
                    found._tracking_client.store  # noqa: B018  (created now, under the lock)
            except Exception as exc:
                error = store_error(exc, f"The run history (MLflow's store {masked(tracking_uri)})")
                if error is None:
                    raise
                raise error from None
            _clients[tracking_uri] = found
        return found


@contextlib.contextmanager
def _opened(tracking_uri: str):
    """A SQLite store is created by one process at a time (MLflow migrates a new file; twelve
    first submits at once used to collide), in WAL mode (readers never block the supervisors
    that write) with a generous busy timeout; an empty or missing one is never created anew
    over a workspace that has runs. Yields the URI to open it with."""
    if not tracking_uri.startswith("sqlite:///"):
        yield tracking_uri
        return
    import fcntl
    import sqlite3

    path = Path(tracking_uri[len("sqlite:///"):].split("?", 1)[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _refuse_replacing(path)
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        yield f"{tracking_uri}{'&' if '?' in tracking_uri else '?'}timeout={SQLITE_BUSY_TIMEOUT}"


def _refuse_replacing(path: Path) -> None:
    """An embedded workspace keeps mlflow.db beside runyard.db: if runyard.db records runs,
    an empty or missing mlflow.db lost their history, and is not silently made anew."""
    if path.exists() and path.stat().st_size > 0:
        return
    registry = path.with_name("runyard.db")
    if not registry.exists():
        return
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{registry}?mode=ro", uri=True)) as conn:
            runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return
    if runs:
        from runyard.errors import StoreError

        state = "is empty" if path.exists() else "is missing"
        raise StoreError(
            f"The run history {path} {state}, but {registry} records {runs} run(s) it held. "
            f"Restore {path.name} from a backup; runyard will not make a new, empty one over them "
            f"(move {registry.name} away too to start this workspace afresh).")


def ensure_experiment(tracking_uri: str, name: str, artifact_root_uri: str) -> str:
    """The MLflow experiment id for `name`, created on first use (race-safe)."""
    c = client(tracking_uri)
    found = c.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    from mlflow.exceptions import MlflowException

    try:
        return c.create_experiment(name, artifact_location=f"{artifact_root_uri.rstrip('/')}/{name}")
    except MlflowException:  # another process created it first
        return c.get_experiment_by_name(name).experiment_id


def create_run(tracking_uri: str, experiment_id: str, run_name: str, tags: dict[str, str]) -> str:
    run = client(tracking_uri).create_run(experiment_id, run_name=run_name, tags=tags)
    return run.info.run_id


def log_params(tracking_uri: str, mlflow_run_id: str, params: dict[str, str]) -> None:
    found = client(tracking_uri)  # (first: see set_tags)
    from mlflow.entities import Param

    found.log_batch(mlflow_run_id, params=[Param(k, v) for k, v in params.items()])


def log_dataset_inputs(tracking_uri: str, mlflow_run_id: str, inputs: list[dict]) -> None:
    """The run's dataset inputs, in MLflow's run inputs (shown in its UI)."""
    import hashlib
    import json

    from mlflow.entities import Dataset, DatasetInput, InputTag

    datasets = []
    for spec in inputs:
        registered = spec["dataset"]
        name = f"{registered['name']}:{registered['version']}" if registered else spec["label"][:200]
        identity = registered["id"] if registered else \
            json.dumps(spec.get("manifest") or spec.get("run_files"), sort_keys=True)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        source = json.dumps({"sources": spec["definition"].get("sources"), "runyard.dataset": registered,
                             "runyard.run_files": spec.get("run_files")})
        datasets.append(DatasetInput(
            Dataset(name=name, digest=digest, source_type="runyard", source=source),
            tags=[InputTag("mlflow.data.context", spec["name"])]))
    client(tracking_uri).log_inputs(mlflow_run_id, datasets=datasets)


def set_terminated(tracking_uri: str, mlflow_run_id: str, v1_status: str, error: dict | None = None) -> None:
    """End the MLflow run, with runyard's status word and (failed or stopped with a reason)
    the reason as its description."""
    from runyard.runs import mlflow_fields

    tags = {mlflow_fields.STATUS_TAG: v1_status}
    note = mlflow_fields.end_note(v1_status, error)
    if note:  # first, above what the description said (the link to the run's page)
        before = client(tracking_uri).get_run(mlflow_run_id).data.tags.get(mlflow_fields.MLFLOW_DESCRIPTION)
        tags[mlflow_fields.MLFLOW_DESCRIPTION] = f"{note}\n\n{before}" if before else note
    set_tags(tracking_uri, mlflow_run_id, tags)
    client(tracking_uri).set_terminated(mlflow_run_id, status=MLFLOW_END_STATUS[v1_status])


def set_tags(tracking_uri: str, mlflow_run_id: str, tags: dict[str, str]) -> None:
    found = client(tracking_uri)  # first: MLflow is imported under client()'s lock (see _repository)
    from mlflow.entities import RunTag

    found.log_batch(mlflow_run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def set_start_time(tracking_uri: str, mlflow_run_id: str, seconds: float) -> None:
    """The MLflow run's start: when the run started running, so that MLflow's UI and runyard
    say the same duration (runyard's one definition: Running -> end; MLflow would count from
    the submit). MLflow's client cannot change a start time: its SQL stores are written with
    its own table model, as bulk_metrics does; other stores keep the submit time."""
    store = client(tracking_uri)._tracking_client.store  # (first: see set_tags)
    import sqlalchemy as sa

    from runyard.stores import bulk_metrics

    if not bulk_metrics.supported(store):
        return
    from mlflow.store.tracking.dbmodels.models import SqlRun

    table = SqlRun.__table__
    with store.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.run_uuid == mlflow_run_id)
                     .values(start_time=int(seconds * 1000)))


def rename_run(tracking_uri: str, mlflow_run_id: str, name: str) -> None:
    client(tracking_uri).update_run(mlflow_run_id, name=name)


# tracking URI -> the destination behind its `mlflow-artifacts:/` URIs, for processes that run
# beside `runyard server` and reach the artifact store directly rather than through its proxy.
_proxied: dict[str, str] = {}


def proxy_artifacts(tracking_uri: str, destination: str) -> None:
    _proxied[tracking_uri] = destination.rstrip("/")


@functools.lru_cache(maxsize=1024)  # a run's artifact URI never changes: one lookup per run
def _artifact_uri(tracking_uri: str, mlflow_run_id: str) -> str:
    uri = client(tracking_uri).get_run(mlflow_run_id).info.artifact_uri
    destination = _proxied.get(tracking_uri)
    if destination and uri.startswith("mlflow-artifacts:"):
        from urllib.parse import urlparse

        return f"{destination}/{urlparse(uri).path.lstrip('/')}"
    return uri


@functools.lru_cache(maxsize=1024)  # built once per run (an S3 repository makes a boto client)
def _repository(tracking_uri: str, mlflow_run_id: str):
    # The URI first: client() imports MLflow under its lock, which a supervisor's background
    # import also holds; importing MLflow modules beside it would race that import.
    uri = _artifact_uri(tracking_uri, mlflow_run_id)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri, tracking_uri=tracking_uri)


def artifact_dir(tracking_uri: str, mlflow_run_id: str) -> Path | None:
    """The local folder of a run's artifacts, or None when they are not on a local disk."""
    uri = _artifact_uri(tracking_uri, mlflow_run_id)
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    if "://" not in uri and ":" not in uri.split("/", 1)[0]:
        return Path(uri)
    return None


def list_files(tracking_uri: str, mlflow_run_id: str) -> list[str]:
    """Every artifact path of a run, recursively, sorted."""
    return sorted(file_sizes(tracking_uri, mlflow_run_id))


def file_sizes(tracking_uri: str, mlflow_run_id: str, prefix: str | None = None) -> dict[str, int]:
    """Artifact path -> size in bytes, for the run's files (under the folder `prefix`), leaving
    out files still being published."""
    local = artifact_dir(tracking_uri, mlflow_run_id)
    if local is not None:
        folder = local / prefix if prefix else local
        return {p.relative_to(local).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*"))
                if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".uploading"))} \
            if folder.is_dir() else {}
    repo = _repository(tracking_uri, mlflow_run_id)
    found: dict[str, int] = {}
    pending: list[str | None] = [prefix]
    while pending:
        for info in repo.list_artifacts(pending.pop()):
            if info.is_dir:
                pending.append(info.path)
            else:
                found[info.path] = int(info.file_size or 0)
    return found


def upload_dir(tracking_uri: str, mlflow_run_id: str, local_dir: Path, artifact_path: str) -> None:
    """A folder's files as artifacts under `artifact_path`; links to folders are left out."""
    from runyard.archives import plain_files

    local = artifact_dir(tracking_uri, mlflow_run_id)
    if local is None:  # an object store: each object appears whole or not at all
        _repository(tracking_uri, mlflow_run_id).log_artifacts(str(local_dir), artifact_path)
        return
    files = plain_files(Path(local_dir), f"./{artifact_path}", on_refused=lambda refused: logging.getLogger(
        "runyard.supervisor").warning("Not uploaded (links to folders, special files): %s", "; ".join(refused)))
    for path, rel in files:
        _publish(path, local / artifact_path / rel)


def upload_file(tracking_uri: str, mlflow_run_id: str, local_file: Path, artifact_dir_: str | None) -> None:
    local = artifact_dir(tracking_uri, mlflow_run_id)
    if local is None:
        _repository(tracking_uri, mlflow_run_id).log_artifact(str(local_file), artifact_dir_ or None)
        return
    _publish(Path(local_file), local / (artifact_dir_ or "") / Path(local_file).name)


def _publish(source: Path, dest: Path) -> None:
    """Copy a file into a run's artifact folder under a temporary name, then rename it: readers
    (and a full disk) never see a part of it."""
    import shutil
    import uuid

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.uploading")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download(tracking_uri: str, mlflow_run_id: str, path: str, dst_dir: Path) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    return Path(_repository(tracking_uri, mlflow_run_id).download_artifacts(path, str(dst_dir)))


SYSTEM_METRICS_PREFIX = "system/"  # MLflow's prefix of system metrics (supervisor/resources.py)


def metric_history(tracking_uri: str, mlflow_run_id: str) -> dict[str, list[float]]:
    """Every numeric metric series the run's code logged, in step order."""
    c = client(tracking_uri)
    run = c.get_run(mlflow_run_id)
    series = {}
    for key in run.data.metrics:
        if key.startswith(SYSTEM_METRICS_PREFIX):  # the supervisor's samples, not the script's
            continue
        points = c.get_metric_history(mlflow_run_id, key)
        points.sort(key=lambda m: (m.step, m.timestamp))
        series[key] = [m.value for m in points]
    return series


def register_model_version(tracking_uri: str, name: str, source_uri: str, mlflow_run_id: str | None,
                           description: str | None, tags: dict[str, str]) -> str:
    """A new version of `name` in the MLflow model registry (the registered model is created on
    first use); returns MLflow's version number."""
    from mlflow.exceptions import MlflowException

    c = client(tracking_uri)
    try:
        c.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = c.create_model_version(name, source=source_uri, run_id=mlflow_run_id,
                                     tags={k: str(v) for k, v in tags.items()},
                                     description=description)
    return version.version


def delete_model_version(tracking_uri: str, name: str, version: str) -> None:
    client(tracking_uri).delete_model_version(name, version)


def set_model_version_tags(tracking_uri: str, name: str, version: str, set_tags: dict,
                           removed: list[str]) -> None:
    c = client(tracking_uri)
    for key, value in set_tags.items():
        c.set_model_version_tag(name, version, key, str(value))
    for key in removed:
        c.delete_model_version_tag(name, version, key)
