"""Run routes: the workspace and its experiments, runs (list, status, submit, cancel), their logs
from an offset, their metrics, and records a client logs to them."""

from __future__ import annotations

import json
import math
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import NotFoundError, UserErrorException
from runyard.server.responses import json_response, log_piece

# Log files a client may read, by the name the client uses.
LOG_FILES = {"std_log": "std_log", "preparing_log": "preparing_log",
             "supervisor_log": "supervisor_log"}
RECORD_KINDS = {"m", "l", "r", "tb", "i", "f", "tag", "prop", "name", "end"}
MAX_RECORDS = 100_000  # per request


def wire(record: dict) -> dict:
    """A registry run record as JSON."""
    return {**record, "status": record["status"].value}


def add_routes(router: APIRouter, ws) -> None:
    runs = ws.backend.runs

    @router.get("/workspace")
    def workspace_info():
        from runyard import __version__

        return {"name": ws.name, "version": __version__}

    @router.get("/experiments")
    def experiments():
        return runs.experiments()

    @router.get("/runs")
    def list_runs(experiment: str | None = None, parent_run_id: str | None = None,
                  limit: int | None = None):
        return json_response([wire(r) for r in runs.list(experiment, parent_run_id, limit)])

    @router.get("/runs/{run_id}")
    def get_run(run_id: str):
        return json_response(wire(runs.get(run_id)))

    @router.post("/runs")
    async def submit(request: Request):
        body = await request.json()
        return await run_in_threadpool(_submit, ws, body)

    @router.post("/sweeps")
    async def submit_sweep(request: Request):
        body = await request.json()
        return await run_in_threadpool(_submit, ws, body, True)

    @router.post("/runs/{run_id}/cancel")
    def cancel(run_id: str):
        runs.cancel(run_id)
        return {"status": runs.get(run_id)["status"].value}

    @router.get("/runs/{run_id}/logs/{name}")
    def read_log(run_id: str, name: str, offset: int = 0):
        if name not in LOG_FILES:
            raise NotFoundError(f"No log named {name!r}; the logs are {sorted(LOG_FILES)}.")
        runs.get(run_id)
        return log_piece(runs.log_source(run_id, LOG_FILES[name]), offset)

    @router.get("/runs/{run_id}/metrics")
    def metrics(run_id: str, name: str | None = None):
        return json_response(runs.metrics(runs.get(run_id), name))

    @router.post("/runs/{run_id}/records")
    async def records(run_id: str, request: Request):
        body = await request.json()
        return await run_in_threadpool(_ingest_records, ws, run_id, body)


def _submit(ws, body: dict, sweep: bool = False) -> dict:
    """POST /runs (a run) and POST /sweeps (a sweep, `sweep` its settings): the fields a client
    checked, checked again, with its uploaded snapshot."""
    from pydantic import ValidationError

    from runyard.runs import snapshot
    from runyard.runs.experiment import Experiment
    from runyard.runs.spec import RunSpec
    from runyard.server.data_routes import checked_entries

    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        raise UserErrorException("POST /runs (and /sweeps) takes experiment, target, fields, "
                                 "snapshot_id and tags (and sweep).")
    snapshot_id = str(body.get("snapshot_id"))
    snapshot.check_present(ws.snapshots_dir, snapshot_id)
    fields = dict(body["fields"])
    fields.pop("interpreter", None)  # the submitting machine's interpreter means nothing here
    try:
        RunSpec(run_id="check", experiment="check", snapshot_id=snapshot_id, **fields)
    except (ValidationError, TypeError) as exc:
        raise UserErrorException(f"The submitted run fields are not valid: {exc}") from None
    for spec in fields.get("inputs") or []:  # datasets pinned by the client: no local paths
        if spec.get("manifest") is not None:
            checked_entries(ws, spec["manifest"])
    experiment = Experiment(ws, body.get("experiment")).name  # (its name checked)
    tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
    if sweep:
        run_id = ws.backend.runs.submit_sweep(experiment, fields, body.get("target"), tags,
                                              body.get("sweep"), snapshot_id=snapshot_id)
    else:
        run_id = ws.backend.runs.submit(experiment, fields, body.get("target"), tags,
                                        snapshot_id=snapshot_id)
    return {"run_id": run_id}


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
