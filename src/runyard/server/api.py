"""runyard's own API, next to MLflow's on the server's port: run supervision (submit, status,
logs, metrics, client logging, cancel) and content-addressed snapshot upload.

Every route works on the server's workspace with the same functions an embedded workspace
uses; the client (client.py) turns these routes back into the v1 objects.
"""

from __future__ import annotations

import hashlib
import json
import math
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from runyard.errors import RunNotFoundError, RunyardError, UserErrorException
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
        path = getattr(RunPaths.of(ws, run_id), LOG_FILES[name])
        try:
            with open(path, "rb") as fh:
                fh.seek(max(0, offset))
                data = fh.read(8 * 1024 * 1024)
        except FileNotFoundError:
            return Response(status_code=204)  # not written yet
        return Response(data, media_type="application/octet-stream")

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
        with tempfile.TemporaryFile(dir=ws.location) as spool:
            async for chunk in request.stream():
                spool.write(chunk)
            spool.seek(0)
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

        from runyard.models import remote, store

        record = store.get(ws, name, version)
        source = store.version_dir(ws, record["name"], record["version"]) / record["asset"]
        spool = tempfile.NamedTemporaryFile(dir=ws.location, suffix=".tar", delete=False)
        with spool:
            remote.pack(source, spool)
        return FileResponse(spool.name, media_type="application/x-tar",
                            background=BackgroundTask(Path(spool.name).unlink, missing_ok=True))

    @router.post("/snapshots/missing")
    async def missing_blobs(request: Request):
        body = await request.json()
        blobs = body.get("blobs") if isinstance(body, dict) else None
        if not isinstance(blobs, list):
            raise UserErrorException('POST /snapshots/missing takes {"blobs": [sha256, ...]}.')
        store = ws.snapshots_dir / "blobs"
        return {"missing": [b for b in blobs if not _is_hash(b) or not (store / b[:2] / b).exists()]}

    @router.put("/snapshots/{snapshot_id}")
    async def put_snapshot(snapshot_id: str, request: Request):
        with tempfile.TemporaryFile(dir=ws.snapshots_dir) as spool:
            async for chunk in request.stream():
                spool.write(chunk)
            spool.seek(0)
            await run_in_threadpool(_store_snapshot, ws.snapshots_dir, snapshot_id, spool)
        return {"snapshot_id": snapshot_id}

    return router


def _submit(ws, body: dict) -> dict:
    from runyard.runs.experiment import Experiment
    from runyard.runs.submit import create_and_start, place

    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise UserErrorException("POST /runs takes experiment, target, fields, snapshot_id and tags.")
    snapshot_id = str(body.get("snapshot_id"))
    if not (ws.snapshots_dir / "manifests" / f"{snapshot_id}.json").exists():
        raise UserErrorException(f"Snapshot {snapshot_id} was not uploaded to this server.")
    fields = dict(body["fields"])
    fields.pop("interpreter", None)  # the submitting machine's interpreter means nothing here
    from pydantic import ValidationError

    from runyard.runs.spec import RunSpec

    try:
        RunSpec(run_id="check", experiment="check", snapshot_id=snapshot_id, **fields)
    except (ValidationError, TypeError) as exc:
        raise UserErrorException(f"The submitted run fields are not valid: {exc}") from None
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
        return store.register(ws, name, remote.unpack(spool, Path(tmp)), **fields)


def _ingest_records(ws, run_id: str, records) -> dict:
    """Records a client logged to a run. Numeric points go straight into the store (a
    transaction per request, safe beside the supervisor's); the rest (strings, tables, tags)
    go to the run's supervisor while it runs, which keeps it their only writer."""
    from runyard.runs.ingest import Ingestor
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
    numeric = [r for r in records if r["k"] == "m" and _is_number(r.get("v"))]
    rest = [r for r in records if not (r["k"] == "m" and _is_number(r.get("v")))]
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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_hash(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _store_snapshot(store: Path, snapshot_id: str, spool) -> None:
    """Unpack an uploaded snapshot (its manifest and the blobs the server lacked), checking
    every hash: a snapshot is complete and correct, or not stored at all."""
    if not _is_hash(snapshot_id):
        raise UserErrorException(f"A snapshot id is a sha256 hex digest. Received: {snapshot_id!r}")
    manifest_bytes = None
    try:
        archive = tarfile.open(fileobj=spool, mode="r:*")
    except tarfile.TarError as exc:
        raise UserErrorException(f"The snapshot upload is not a tar archive: {exc}") from None
    with archive:
        for member in archive:
            if not member.isfile():
                raise UserErrorException(f"Snapshot archive entry {member.name!r} is not a file.")
            data = archive.extractfile(member).read()
            digest = hashlib.sha256(data).hexdigest()
            if member.name == "manifest.json":
                if digest != snapshot_id:
                    raise UserErrorException("The snapshot manifest does not match its id.")
                manifest_bytes = data
            elif member.name.startswith("blobs/") and member.name[6:] == digest:
                _write_once(store / "blobs" / digest[:2] / digest, data)
            else:
                raise UserErrorException(
                    f"Snapshot archive entry {member.name!r} is neither manifest.json nor "
                    "blobs/<sha256 of its content>.")
    if manifest_bytes is None:
        raise UserErrorException("The snapshot upload has no manifest.json.")
    entries = json.loads(manifest_bytes)["files"]
    for entry in entries:  # restored on this machine: paths must stay inside the job's folder
        parts = Path(entry["path"]).parts
        if Path(entry["path"]).is_absolute() or ".." in parts or not _is_hash(entry["sha256"]):
            raise UserErrorException(f"Snapshot entry {entry['path']!r} is not a relative path "
                                     "with a sha256.")
    absent = [e["path"] for e in entries
              if not (store / "blobs" / e["sha256"][:2] / e["sha256"]).exists()]
    if absent:
        raise UserErrorException(f"The snapshot upload lacks the content of {absent[:5]}.")
    _write_once(store / "manifests" / f"{snapshot_id}.json", manifest_bytes)


def _write_once(target: Path, data: bytes) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    tmp.replace(target)
