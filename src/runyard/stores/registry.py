"""runyard's own registry: run supervision state, environments, datasets, datastores, models
and endpoints in one small SQLAlchemy store.

SQLite file in an embedded workspace (WAL, so readers never block the supervisors that
write heartbeats); the same tables work on PostgreSQL in team mode.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from runyard.errors import RunNotFoundError
from runyard.runs.status import RunStatus, check_transition

SCHEMA_VERSION = 1
PG_SCHEMA = "runyard_registry"  # runyard's tables in PostgreSQL (not "runyard": a user of that
# name would get it first in its search_path, and MLflow's tables with it)

metadata = sa.MetaData()

runs_table = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(255), primary_key=True),
    sa.Column("experiment", sa.String(255), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("target", sa.String(255), nullable=False, default="local"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("start_time", sa.Float),
    sa.Column("end_time", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("host", sa.String(255)),
    sa.Column("supervisor_pid", sa.Integer),
    sa.Column("supervisor_started", sa.Float),  # process create time: tells a reused pid apart
    sa.Column("job_pgid", sa.Integer),
    sa.Column("job_pgids", sa.Text),  # JSON list: one process group per process of the job
    sa.Column("exit_code", sa.Integer),
    sa.Column("mlflow_run_id", sa.String(64)),
    sa.Column("mlflow_experiment_id", sa.String(64)),
    sa.Column("parent_run_id", sa.String(255), index=True),
    sa.Column("spec", sa.Text, nullable=False),  # the validated RunSpec, as JSON
    sa.Column("error", sa.Text),  # JSON: {"code", "message", ...}
    sa.Column("tags", sa.Text, nullable=False, default="{}"),
    sa.Column("properties", sa.Text, nullable=False, default="{}"),
    sa.Column("history", sa.Text, nullable=False, default="[]"),  # JSON: [[status, time], ...]
)

environments_table = sa.Table(
    "environments",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),  # Environment.definition(), as JSON
    sa.Column("created_at", sa.Float, nullable=False),
)

datasets_table = sa.Table(
    "datasets",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("definition", sa.Text, nullable=False),  # JSON: sources and transforms
    sa.Column("manifest", sa.Text, nullable=False),  # JSON: the pinned file entries
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
)

datastores_table = sa.Table(
    "datastores",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),  # JSON: kind and location (and S3 keys)
    sa.Column("created_at", sa.Float, nullable=False),
)

models_table = sa.Table(
    "models",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("asset", sa.String(255), nullable=False),  # file or folder name of the model
    sa.Column("framework", sa.String(64)),
    sa.Column("framework_version", sa.String(64)),
    sa.Column("description", sa.Text),
    sa.Column("tags", sa.Text, nullable=False, default="{}"),
    sa.Column("properties", sa.Text, nullable=False, default="{}"),
    sa.Column("resources", sa.Text),  # JSON: ResourceConfiguration
    sa.Column("run_id", sa.String(255)),
    sa.Column("mlflow_version", sa.String(32)),
    sa.Column("created_at", sa.Float, nullable=False),
)

endpoints_table = sa.Table(
    "endpoints",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # JSON: serving.spec.EndpointSpec
    sa.Column("generation", sa.Integer, nullable=False, default=1),  # +1 per update()
    sa.Column("served_generation", sa.Integer),  # the spec generation the server runs
    sa.Column("keys", sa.Text),  # JSON: [primary, secondary] when auth is enabled
    sa.Column("port", sa.Integer),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_started", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

compute_targets_table = sa.Table(
    "compute_targets",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),  # AmlCompute | RayCompute
    sa.Column("state", sa.String(32), nullable=False),  # Creating | Succeeded | Failed | Deleting
    sa.Column("config", sa.Text, nullable=False),  # JSON: provisioning or attach settings
    sa.Column("address", sa.String(255)),  # the Ray cluster's GCS address (host:port)
    sa.Column("secret", sa.Text),  # the Ray cluster's auth token; never shown or logged
    sa.Column("processes", sa.Text),  # JSON: this machine's `ray start` processes (local clusters)
    sa.Column("progress", sa.Text),  # the last provisioning step, for wait_for_completion
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

meta_table = sa.Table(
    "registry_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

_JSON_FIELDS = ("spec", "error", "tags", "properties", "history", "job_pgids")


def _set_sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")  # first: the next one may wait for a writer
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Registry:
    """Access to runyard.db. One instance per database URL and process (see `open_registry`)."""

    def __init__(self, url: str):
        from runyard.stores.failures import masked, store_error

        self.url = url
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _set_sqlite_pragmas)
        elif self.engine.dialect.name == "postgresql":
            # Team mode shares one database with MLflow, whose tables include `runs` too:
            # runyard's tables live in their own schema.
            self.engine = self.engine.execution_options(schema_translate_map={None: PG_SCHEMA})
        try:
            with _creating(url):
                _create_tables(self.engine)
                with self.engine.begin() as conn:
                    row = conn.execute(sa.select(meta_table.c.value)
                                       .where(meta_table.c.key == "schema")).first()
                    if row is None:
                        conn.execute(sa.insert(meta_table).values(key="schema", value=str(SCHEMA_VERSION)))
        except Exception as exc:
            error = store_error(exc, f"runyard's registry ({masked(url)})")
            if error is None:
                raise
            raise error from None

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == key)).first()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(sa.update(meta_table).where(meta_table.c.key == key)
                                   .values(value=value)).rowcount
            if not updated:
                conn.execute(sa.insert(meta_table).values(key=key, value=value))

    # -- runs -------------------------------------------------------------------------------
    def insert_run(self, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(runs_table).values(**_encode(values)))

    def find_run(self, run_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs_table).where(runs_table.c.run_id == run_id)).first()
        return _decode(row._mapping) if row else None

    def get_run(self, run_id: str) -> dict:
        record = self.find_run(run_id)
        if record is None:
            raise RunNotFoundError(
                f"No run with id {run_id!r} in this workspace. "
                "List the runs with `runyard runs list` (or Experiment.get_runs())."
            )
        return record

    def list_runs(
        self, experiment: str | None = None, parent_run_id: str | None = None, limit: int | None = None
    ) -> Iterator[dict]:
        query = sa.select(runs_table).order_by(runs_table.c.created_at.desc())
        if experiment is not None:
            query = query.where(runs_table.c.experiment == experiment)
        if parent_run_id is not None:
            query = query.where(runs_table.c.parent_run_id == parent_run_id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield _decode(row._mapping)

    def experiments(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs_table.c.experiment).distinct()).all()
        return sorted(r[0] for r in rows)

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(runs_table).where(runs_table.c.run_id == run_id).values(**_encode(values))
            )

    def merge_json(self, run_id: str, field: str, updates: dict) -> dict:
        """Merge `updates` into a JSON dict column (tags, properties); returns the result."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(runs_table.c[field]).where(runs_table.c.run_id == run_id)
            ).first()
            if row is None:
                raise RunNotFoundError(f"No run with id {run_id!r} in this workspace.")
            merged = {**json.loads(row[0] or "{}"), **updates}
            conn.execute(
                sa.update(runs_table)
                .where(runs_table.c.run_id == run_id)
                .values({field: json.dumps(merged)})
            )
        return merged

    def transition(
        self, run_id: str, new: RunStatus, *, only_from: set[RunStatus] | None = None, **values: Any
    ) -> RunStatus | None:
        """Move a run to `new` if the lifecycle allows it; returns the previous status.

        Compare-and-set: concurrent writers (the supervisor, a client cancelling, a reader
        that found the heartbeat stale) never overwrite each other's terminal state.
        Returns None, without raising, when `only_from` is given and the current status is
        not in it. Raises IllegalTransitionError for a step the lifecycle forbids.
        """
        for _ in range(20):
            record = self.get_run(run_id)
            current = record["status"]
            if only_from is not None and current not in only_from:
                return None
            if current == new:
                return current
            check_transition(current, new)
            now = time.time()
            if new.is_terminal() and "end_time" not in values:
                values["end_time"] = now
            history = [*record["history"], [new.value, now]]
            with self.engine.begin() as conn:
                result = conn.execute(
                    sa.update(runs_table)
                    .where(runs_table.c.run_id == run_id, runs_table.c.status == current.value)
                    .values(status=new.value, **_encode({**values, "history": history}))
                )
            if result.rowcount == 1:
                return current
        raise RuntimeError(f"Could not change the status of run {run_id}: too much contention.")


@contextlib.contextmanager
def _creating(url: str):
    """One process at a time creates a SQLite registry's tables (CREATE TABLE races fail on
    SQLite); the file is its owner's alone (it holds datastore keys)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    import fcntl
    import os

    path = url[len("sqlite:///"):].split("?", 1)[0]
    with open(os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def _create_tables(engine) -> None:
    """Create what is missing; two processes opening a new database at once may race on
    PostgreSQL's catalog, so the loser tries again."""
    for attempt in range(5):
        try:
            if engine.dialect.name == "postgresql":
                with engine.begin() as conn:
                    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
            metadata.create_all(engine)
            return
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def dump_json_columns(values: dict, fields) -> dict:
    """`values` with its JSON columns among `fields` serialised (strings and None pass as they are)."""
    return {k: json.dumps(v) if k in fields and v is not None and not isinstance(v, str) else v
            for k, v in values.items()}


def load_json_columns(mapping, fields) -> dict:
    """A row as a dict with its JSON columns among `fields` parsed (empty ones become None)."""
    record = dict(mapping)
    for key in fields:
        record[key] = json.loads(record[key]) if record.get(key) else None
    return record


def _encode(values: dict) -> dict:
    out = dump_json_columns(values, _JSON_FIELDS)
    if isinstance(out.get("status"), RunStatus):
        out["status"] = out["status"].value
    return out


def _decode(mapping) -> dict:
    record = load_json_columns(mapping, _JSON_FIELDS)
    record["status"] = RunStatus(record["status"])
    record.setdefault("tags", {})
    record["tags"] = record["tags"] or {}
    record["properties"] = record["properties"] or {}
    record["history"] = record.get("history") or []
    return record


_registries: dict[str, Registry] = {}
_lock = threading.Lock()


def open_registry(url: str) -> Registry:
    """The process-wide Registry for a database URL (engines are costly; share them)."""
    with _lock:
        registry = _registries.get(url)
        if registry is None:
            registry = _registries[url] = Registry(url)
        return registry
