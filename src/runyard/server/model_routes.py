"""Registered models: metadata as JSON, the file or folder as a tar archive both ways."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import UserErrorException
from runyard.server.responses import file_response, json_response, spooled

EDITABLE = {"tags", "properties", "description", "resources"}
METADATA = {"framework", "framework_version", "description", "tags", "properties", "resources",
            "run_id", "mlflow_run_id"}


def add_routes(router: APIRouter, ws) -> None:
    store = ws.backend.models

    @router.get("/models")
    def list_models(name: str | None = None, run_id: str | None = None,
                    framework: str | None = None):
        return json_response(store.list(name, run_id, framework))

    @router.get("/models/one")
    def get_model(name: str, version: str | None = None):
        return json_response(store.get(name, version))

    @router.post("/models")
    async def register_model(name: str, meta: str, request: Request):
        with await spooled(request, ws.folder) as spool:
            record = await run_in_threadpool(_register_model, ws, name, meta, spool)
        return json_response(record)

    @router.post("/models/metadata")
    async def update_model(name: str, version: str, request: Request):
        values = await request.json()
        if not isinstance(values, dict) or not set(values) <= EDITABLE:
            raise UserErrorException(f"POST /models/metadata changes only {sorted(EDITABLE)}.")
        record = store.get(name, version)  # raises when the version does not exist
        return json_response(await run_in_threadpool(
            store.update_metadata, record["name"], record["version"], **values))

    @router.delete("/models/one")
    def delete_model(name: str, version: str):
        from runyard.models.model import Model

        Model(ws, name, version=version).delete()
        return {"deleted": f"{name}:{version}"}

    @router.get("/models/files")
    def model_files(name: str, version: str):
        from runyard import archives

        source = store.path(store.get(name, version))
        spool = tempfile.NamedTemporaryFile(dir=ws.folder, suffix=".tar", delete=False)
        with spool:
            archives.pack_folder(source, spool, "Model folder")
        return file_response(Path(spool.name))


def _register_model(ws, name: str, meta: str, spool) -> dict:
    from runyard.models import local, remote

    try:
        fields = json.loads(meta)
    except ValueError:
        raise UserErrorException("POST /models takes its metadata as JSON in `meta`.") from None
    if not isinstance(fields, dict) or set(fields) != METADATA:
        raise UserErrorException(f"POST /models metadata must have exactly {sorted(METADATA)}.")
    local.validate_name(name)
    with tempfile.TemporaryDirectory(dir=ws.folder) as tmp:
        return ws.backend.models.register(name, remote.unpack(spool, Path(tmp) / "unpacked"), **fields)
