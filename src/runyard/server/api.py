"""runyard's own API, next to MLflow's on the server's port: run supervision (submit, status,
logs, metrics, client logging, cancel) and content-addressed snapshot upload.

Every route works on the server's workspace with the same functions an embedded workspace
uses; the client (client.py) turns these routes back into the v1 objects.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import uuid
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from runyard.errors import RunNotFoundError, RunyardError, UserErrorException
from runyard.runs import snapshot
from runyard.server import API_PREFIX as PREFIX

# Log files a client may read, by the name the client uses.
LOG_FILES = {"std_log": "std_log", "preparing_log": "preparing_log",
             "supervisor_log": "supervisor_log"}
RECORD_KINDS = {"m", "l", "r", "tb", "i", "f", "tag", "prop"}
MAX_RECORDS = 100_000  # per request


def json_response(content, status_code: int = 200) -> Response:
    # NaN and infinities are valid metric values; Python's json reads them back.
    return Response(json.dumps(content), status_code=status_code, media_type="application/json")


def error_response(exc: RunyardError) -> Response:
    status = 404 if isinstance(exc, RunNotFoundError) else 400
    return json_response({"error_code": type(exc).__name__, "message": str(exc)}, status)


async def spooled(request: Request, folder: Path):
    """The request's body in a temporary file under `folder` (uploads can be large), rewound."""
    spool = tempfile.TemporaryFile(dir=folder)
    async for chunk in request.stream():
        spool.write(chunk)
    spool.seek(0)
    return spool


def tar_response(ws, fill) -> Response:
    """A tar archive of what fill(folder) writes into an empty folder, sent as the response
    (made in the workspace's folder, removed once sent)."""
    from fastapi.responses import FileResponse
    from starlette.background import BackgroundTask

    from runyard import archives

    spool = tempfile.NamedTemporaryFile(dir=ws.location, suffix=".tar", delete=False)
    with spool, tempfile.TemporaryDirectory(dir=ws.location) as folder:
        fill(Path(folder))
        archives.pack(archives.plain_files(Path(folder), "The files to send"), spool)
    return FileResponse(spool.name, media_type="application/x-tar",
                        background=BackgroundTask(Path(spool.name).unlink, missing_ok=True))


def log_piece(path: Path, offset: int) -> Response:
    """A log file from `offset` (at most 8 MB a request; 204: not written yet), for a
    client's read(offset) (ServerClient.reader)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, offset))
            data = fh.read(8 * 1024 * 1024)
    except FileNotFoundError:
        return Response(status_code=204)
    return Response(data, media_type="application/octet-stream")


def wire(record: dict) -> dict:
    """A registry run record as JSON."""
    return {**record, "status": record["status"].value}


def build_router(ws) -> APIRouter:
    from runyard.runs import liveness
    from runyard.runs.paths import RunPaths

    router = APIRouter(prefix=PREFIX)
    registry = ws._registry

    def checked(run_id: str) -> dict:
        return liveness.check(ws, registry.get_run(run_id))

    @router.get("/workspace")
    def workspace_info():
        from runyard import __version__

        return {"name": ws.name, "version": __version__}

    @router.get("/experiments")
    def experiments():
        return registry.experiments()

    @router.get("/runs")
    def list_runs(experiment: str | None = None, parent_run_id: str | None = None,
                  limit: int | None = None):
        return json_response([wire(r) for r in registry.list_runs(experiment, parent_run_id, limit)])

    @router.get("/runs/{run_id}")
    def get_run(run_id: str):
        return json_response(wire(checked(run_id)))

    @router.post("/runs")
    async def submit(request: Request):
        body = await request.json()
        return await run_in_threadpool(_submit, ws, body)

    @router.post("/runs/{run_id}/cancel")
    def cancel(run_id: str):
        from runyard.runs.run import Run

        run = Run.get(ws, run_id)
        run.cancel()
        return {"status": run.get_status()}

    @router.get("/runs/{run_id}/logs/{name}")
    def read_log(run_id: str, name: str, offset: int = 0):
        if name not in LOG_FILES:
            raise UserErrorException(f"No log named {name!r}; the logs are {sorted(LOG_FILES)}.")
        registry.get_run(run_id)
        return log_piece(getattr(RunPaths.of(ws, run_id), LOG_FILES[name]), offset)

    @router.get("/runs/{run_id}/metrics")
    def metrics(run_id: str, name: str | None = None):
        from runyard.runs.run import Run

        return json_response(Run.get(ws, run_id).get_metrics(name))

    @router.post("/runs/{run_id}/records")
    async def records(run_id: str, request: Request):
        body = await request.json()
        return await run_in_threadpool(_ingest_records, ws, run_id, body)

    # Registered environments (names travel as query parameters: they may hold any character).
    @router.get("/environments")
    def list_environments():
        from runyard.environments import store

        return store.latest_all(ws)

    @router.get("/environments/one")
    def get_environment(name: str, version: str | None = None):
        from runyard.environments import store

        definition, found = store.get(ws, name, version)
        return {"definition": definition, "version": found}

    @router.post("/environments")
    async def register_environment(name: str, request: Request):
        from runyard.environments import store
        from runyard.environments.environment import Environment

        definition = await request.json()
        try:
            Environment.from_definition(definition)
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            raise UserErrorException(
                f"POST /environments takes an environment definition (Environment.definition()): {exc!r}") from None
        version = await run_in_threadpool(store.register, ws, name, definition)
        return {"version": version}

    # Registered models: metadata as JSON, files as tar archives (models/remote.py).
    @router.get("/models")
    def list_models(name: str | None = None, run_id: str | None = None,
                    framework: str | None = None):
        from runyard.models import store

        return json_response(store.list_models(ws, name, run_id, framework))

    @router.get("/models/one")
    def get_model(name: str, version: str | None = None):
        from runyard.models import store

        return json_response(store.get(ws, name, version))

    @router.post("/models")
    async def register_model(name: str, meta: str, request: Request):
        with await spooled(request, ws.location) as spool:
            record = await run_in_threadpool(_register_model, ws, name, meta, spool)
        return json_response(record)

    @router.post("/models/metadata")
    async def update_model(name: str, version: str, request: Request):
        from runyard.models import store

        values = await request.json()
        editable = {"tags", "properties", "description", "resources"}
        if not isinstance(values, dict) or not set(values) <= editable:
            raise UserErrorException(f"POST /models/metadata changes only {sorted(editable)}.")
        record = store.get(ws, name, version)  # raises when the version does not exist
        return json_response(await run_in_threadpool(
            store.update_metadata, ws, record["name"], record["version"], **values))

    @router.delete("/models/one")
    def delete_model(name: str, version: str):
        from runyard.models.model import Model

        Model(ws, name, version=version).delete()
        return {"deleted": f"{name}:{version}"}

    @router.get("/models/files")
    def model_files(name: str, version: str):
        from fastapi.responses import FileResponse
        from starlette.background import BackgroundTask

        from runyard import archives
        from runyard.models import store

        record = store.get(ws, name, version)
        source = store.version_dir(ws, record["name"], record["version"]) / record["asset"]
        spool = tempfile.NamedTemporaryFile(dir=ws.location, suffix=".tar", delete=False)
        with spool:
            archives.pack_folder(source, spool, "Model folder")
        return FileResponse(spool.name, media_type="application/x-tar",
                            background=BackgroundTask(Path(spool.name).unlink, missing_ok=True))

    @router.post("/snapshots/missing")
    async def missing_blobs(request: Request):
        body = await request.json()
        blobs = body.get("blobs") if isinstance(body, dict) else None
        if not isinstance(blobs, list):
            raise UserErrorException('POST /snapshots/missing takes {"blobs": [sha256, ...]}.')
        return {"missing": [b for b in blobs if not snapshot.is_digest(b)
                            or not snapshot.blob_path(ws.snapshots_dir, b).exists()]}

    @router.put("/snapshots/{snapshot_id}")
    async def put_snapshot(snapshot_id: str, request: Request):
        with await spooled(request, ws.snapshots_dir) as spool:
            await run_in_threadpool(snapshot.store_upload, ws.snapshots_dir, snapshot_id, spool)
        return {"snapshot_id": snapshot_id}

    from runyard.server import compute_routes, data_routes, serving_routes

    for routes in (compute_routes, data_routes, serving_routes):
        routes.add_routes(router, ws)
    return router


def _submit(ws, body: dict) -> dict:
    from runyard.runs.experiment import Experiment
    from runyard.runs.submit import create_and_start, place

    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise UserErrorException("POST /runs takes experiment, target, fields, snapshot_id and tags.")
    snapshot_id = str(body.get("snapshot_id"))
    if not snapshot.manifest_path(ws.snapshots_dir, snapshot_id).exists():
        raise UserErrorException(f"Snapshot {snapshot_id} was not uploaded to this server.")
    fields = dict(body["fields"])
    fields.pop("interpreter", None)  # the submitting machine's interpreter means nothing here
    from pydantic import ValidationError

    from runyard.runs.spec import RunSpec

    try:
        RunSpec(run_id="check", experiment="check", snapshot_id=snapshot_id, **fields)
    except (ValidationError, TypeError) as exc:
        raise UserErrorException(f"The submitted run fields are not valid: {exc}") from None
    from runyard.server.data_routes import checked_entries

    for spec in fields.get("inputs") or []:  # datasets pinned by the client: no local paths
        if spec.get("manifest") is not None:
            checked_entries(ws, spec["manifest"])
    place(ws, fields, body.get("target"))
    run = create_and_start(Experiment(ws, body.get("experiment")), fields, snapshot_id,
                           {str(k): str(v) for k, v in (body.get("tags") or {}).items()})
    return {"run_id": run.id}


def _register_model(ws, name: str, meta: str, spool) -> dict:
    from runyard.models import remote, store

    try:
        fields = json.loads(meta)
    except ValueError:
        raise UserErrorException("POST /models takes its metadata as JSON in `meta`.") from None
    allowed = {"framework", "framework_version", "description", "tags", "properties",
               "resources", "run_id", "mlflow_run_id"}
    if not isinstance(fields, dict) or set(fields) != allowed:
        raise UserErrorException(f"POST /models metadata must have exactly {sorted(allowed)}.")
    store.validate_name(name)
    with tempfile.TemporaryDirectory(dir=ws.location) as tmp:
        return store.register(ws, name, remote.unpack(spool, Path(tmp) / "unpacked"), **fields)


def _ingest_records(ws, run_id: str, records) -> dict:
    """Records a client logged to a run. Numeric points go straight into the store (a
    transaction per request, safe beside the supervisor's); the rest (strings, tables, tags)
    go to the run's supervisor while it runs, which keeps it their only writer."""
    from runyard.runs.ingest import Ingestor, is_number
    from runyard.runs.paths import RunPaths

    if not isinstance(records, list) or len(records) > MAX_RECORDS or \
            not all(isinstance(r, dict) and r.get("k") in RECORD_KINDS for r in records):
        raise UserErrorException(
            f"POST /runs/{{id}}/records takes a list of at most {MAX_RECORDS} records, each an "
            f"object whose \"k\" is one of {sorted(RECORD_KINDS)}.")
    for rec in records:
        rec.pop("f", None)  # a client's files come through the artifact proxy, never by path
        if not isinstance(rec.get("t"), (int, float)) or not math.isfinite(rec["t"]):
            rec["t"] = time.time()
    record = ws._registry.get_run(run_id)
    paths = RunPaths.of(ws, run_id)
    numeric = [r for r in records if r["k"] == "m" and is_number(r.get("v"))]
    rest = [r for r in records if not (r["k"] == "m" and is_number(r.get("v")))]
    ingestor = Ingestor(ws.tracking_uri, record["mlflow_run_id"], ws._registry, run_id,
                        paths.structured_metrics, paths.uploads_dir)
    if numeric:
        ingestor.apply(numeric)
    if rest:
        if record["status"].is_terminal():
            ingestor.apply(rest)
        else:
            paths.metrics_dir.mkdir(parents=True, exist_ok=True)
            tmp = paths.root / f".client-{uuid.uuid4().hex}.jsonl"
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rest))
            tmp.replace(paths.metrics_dir / f"client-{time.time():.6f}-{uuid.uuid4().hex[:8]}.jsonl")
    return {"stored": len(numeric), "queued": len(rest)}
