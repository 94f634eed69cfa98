"""Datastore and dataset routes: the server lists, pins, registers, stores and reads the files
(its datastores may be folders on its machine; their keys never leave it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from runyard.errors import UserErrorException
from runyard.server.responses import json_response, spooled, tar_response

SECRET_KEYS = ("access_key_id", "secret_access_key")
S3_SETTINGS = {"datastore_name", "bucket_name", "prefix", "endpoint_url", "region", "access_key_id",
               "secret_access_key", "overwrite", "create_if_not_exists", "skip_validation"}


def add_routes(router: APIRouter, ws) -> None:
    from runyard.data import remote
    from runyard.data.paths import DEFAULT_NAME, checked_path

    datastores, datasets = ws.backend.datastores, ws.backend.datasets

    def record_from(body) -> dict:
        """A dataset a client describes: its definition (no local paths: they would name this
        machine's files) and, for a registered version, its pinned files."""
        if not isinstance(body, dict) or not isinstance(body.get("definition"), dict) or \
                not isinstance(body["definition"].get("sources"), list):
            raise UserErrorException("This route takes {definition: {sources, transforms}, manifest}.")
        definition = {"sources": body["definition"]["sources"],
                      "transforms": list(body["definition"].get("transforms") or [])}
        remote.refuse_local_sources(definition, "A dataset sent to the server")
        manifest = body.get("manifest")
        return {"definition": definition, "registration": {},
                "manifest": None if manifest is None else checked_entries(ws, manifest)}

    # -- datastores ----------------------------------------------------------------------------
    @router.get("/datastores")
    def list_datastores():
        return {"names": sorted(set(datastores.names()) | {DEFAULT_NAME}),
                "default": datastores.default_name()}

    @router.get("/datastores/one")
    def get_datastore(name: str):
        config = datastores.config(_datastore_name(name))
        return {k: (None if k in SECRET_KEYS else v) for k, v in config.items()}

    @router.post("/datastores/s3")
    async def register_s3(request: Request):
        from runyard.data.datastore import Datastore

        settings = await request.json()
        if not isinstance(settings, dict) or not set(settings) <= S3_SETTINGS:
            raise UserErrorException(f"POST /datastores/s3 takes {sorted(S3_SETTINGS)}.")
        # (the v1 method checks the settings before the backend stores them)
        await run_in_threadpool(lambda: Datastore.register_s3_bucket(ws, **settings))
        return {"registered": settings.get("datastore_name")}

    @router.post("/datastores/default")
    async def set_default(request: Request):
        name = _datastore_name((await request.json()).get("name"))
        datastores.set_default(name)
        return {"default": name}

    @router.delete("/datastores/one")
    def unregister(name: str):
        datastores.unregister(_datastore_name(name))
        return {"unregistered": name}

    @router.put("/datastores/files")
    async def upload(name: str, request: Request, overwrite: bool = False):
        name = _datastore_name(name)
        with await spooled(request, ws.folder) as spool:
            await run_in_threadpool(_store_upload, ws, name, spool, overwrite)
        return {"uploaded": name}

    @router.get("/datastores/files")
    def download(name: str, prefix: str = ""):
        name, prefix = _datastore_name(name), checked_path(prefix, "prefix")
        return tar_response(ws, lambda folder: datastores.download(name, prefix, folder, False, False))

    # -- datasets ------------------------------------------------------------------------------
    @router.post("/datasets")
    async def register_dataset(request: Request):
        from runyard.data.file_dataset import validate_dataset_name

        body = await request.json()
        if not isinstance(body, dict) or not {"name", "definition"} <= set(body):
            raise UserErrorException("POST /datasets takes name, definition, description, tags, "
                                     "create_new_version.")
        record = record_from({"definition": body["definition"]})
        tags = body.get("tags") if isinstance(body.get("tags"), dict) else {}
        return json_response(await run_in_threadpool(
            datasets.register, validate_dataset_name(body["name"]), record["definition"],
            body.get("description"), tags, bool(body.get("create_new_version")), False))

    @router.get("/datasets/one")
    def get_dataset(name: str | None = None, version: str = "latest", id: str | None = None):
        if id is not None:
            return json_response(datasets.get_by_id(id))
        return json_response(datasets.get_by_name(name, version))

    @router.get("/datasets")
    def list_datasets():
        return json_response(datasets.latest_all())

    @router.get("/datasets/versions")
    def dataset_versions(name: str):
        return json_response(datasets.versions(name))

    @router.post("/datasets/entries")
    async def entries(request: Request):
        record = record_from(await request.json())
        if record["manifest"] is not None:
            return json_response(record["manifest"])
        return json_response(await run_in_threadpool(datasets.pinned, record["definition"], False))

    @router.post("/datasets/files")
    async def dataset_files(request: Request):
        record = record_from(await request.json())
        return await run_in_threadpool(
            tar_response, ws, lambda folder: datasets.download(record, folder, True, "a dataset"))


def _datastore_name(name) -> str:
    from runyard.data.datastore import _validate_name

    return _validate_name(name)


def checked_entries(ws, manifest) -> list[dict]:
    """Pinned files a client sends back: URLs, or files inside one of this workspace's
    datastores (never other paths of this machine)."""
    from runyard.data import filesystems, remote

    if not isinstance(manifest, list) or not all(isinstance(e, dict) and isinstance(e.get("url"), str)
                                                 for e in manifest):
        raise UserErrorException("manifest is a list of file entries, each with a url.")
    for entry in manifest:
        if filesystems.scheme(entry["url"]) in ("http", "https", "s3"):
            continue
        config = ws.backend.datastores.config(entry["datastore"]) if entry.get("datastore") else None
        if config is None or config["kind"] != "local" or \
                not Path(entry["url"]).resolve().is_relative_to(Path(config["folder"]).resolve()):
            raise UserErrorException(remote.LOCAL_FILES.format(what=repr(entry["url"])))
    return manifest


def _store_upload(ws, name: str, spool, overwrite: bool) -> None:
    from runyard import archives

    with tempfile.TemporaryDirectory(dir=ws.folder) as tmp:
        unpacked = Path(tmp) / "upload"
        names = archives.unpack(spool, unpacked, "The upload")
        if not names:
            raise UserErrorException("The upload holds no files.")
        ws.backend.datastores.upload(name, [(unpacked / n, n) for n in sorted(names)], overwrite,
                                     lambda _line: None)
