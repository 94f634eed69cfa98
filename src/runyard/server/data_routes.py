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
    from runyard.data import dataset_store, served
    from runyard.data import datastore as datastores
    from runyard.data.datastore import Datastore
    from runyard.data.file_dataset import FileDataset

    def dataset_from(body) -> FileDataset:
        """A dataset a client describes: its definition (no local paths: they would name this
        machine's files) and, for a registered version, its pinned files."""
        if not isinstance(body, dict) or not isinstance(body.get("definition"), dict):
            raise UserErrorException("This route takes {definition: {sources, transforms}, manifest}.")
        definition = body["definition"]
        served.refuse_local_sources(definition, "A dataset sent to the server")
        dataset = FileDataset._from_sources(definition["sources"], ws, definition.get("transforms"))
        if body.get("manifest") is not None:  # a registered version's pinned files
            dataset._manifest = checked_entries(ws, body["manifest"])
        return dataset

    # -- datastores ----------------------------------------------------------------------------
    @router.get("/datastores")
    def list_datastores():
        return {"names": sorted(set(datastores.list_names(ws)) | {datastores.DEFAULT_NAME}),
                "default": datastores.default_name(ws)}

    @router.get("/datastores/one")
    def get_datastore(name: str):
        config = Datastore(ws, name)._config
        return {k: (None if k in SECRET_KEYS else v) for k, v in config.items()}

    @router.post("/datastores/s3")
    async def register_s3(request: Request):
        settings = await request.json()
        if not isinstance(settings, dict) or not set(settings) <= S3_SETTINGS:
            raise UserErrorException(f"POST /datastores/s3 takes {sorted(S3_SETTINGS)}.")
        await run_in_threadpool(lambda: Datastore.register_s3_bucket(ws, **settings))
        return {"registered": settings.get("datastore_name")}

    @router.post("/datastores/default")
    async def set_default(request: Request):
        name = (await request.json()).get("name")
        Datastore(ws, name).set_as_default()
        return {"default": name}

    @router.delete("/datastores/one")
    def unregister(name: str):
        Datastore(ws, name).unregister()
        return {"unregistered": name}

    @router.put("/datastores/files")
    async def upload(name: str, request: Request, overwrite: bool = False):
        store = Datastore(ws, name)
        with await spooled(request, ws.location) as spool:
            await run_in_threadpool(_store_upload, ws, store, spool, overwrite)
        return {"uploaded": name}

    @router.get("/datastores/files")
    def download(name: str, prefix: str = ""):
        store = Datastore(ws, name)
        return tar_response(ws, lambda folder: store.download(folder, prefix or None, show_progress=False))

    # -- datasets ------------------------------------------------------------------------------
    @router.post("/datasets")
    async def register_dataset(request: Request):
        body = await request.json()
        if not isinstance(body, dict) or not {"name", "definition"} <= set(body):
            raise UserErrorException("POST /datasets takes name, definition, description, tags, "
                                     "create_new_version.")
        dataset = dataset_from({"definition": body["definition"]})
        tags = body.get("tags") or {}
        registered = await run_in_threadpool(
            dataset.register, ws, body["name"], body.get("description"),
            tags if isinstance(tags, dict) else {}, bool(body.get("create_new_version")))
        return json_response(served.wire(registered))

    @router.get("/datasets/one")
    def get_dataset(name: str | None = None, version: str = "latest", id: str | None = None):
        if id is not None:
            return json_response(served.wire(dataset_store.get_by_id(ws, id)))
        return json_response(served.wire(dataset_store.get_by_name(ws, name, version)))

    @router.get("/datasets")
    def list_datasets():
        return json_response({n: served.wire(d) for n, d in dataset_store.latest_all(ws).items()})

    @router.get("/datasets/versions")
    def dataset_versions(name: str):
        return json_response([served.wire(d) for d in dataset_store.versions(ws, name)])

    @router.post("/datasets/entries")
    async def entries(request: Request):
        dataset = dataset_from(await request.json())
        return json_response(await run_in_threadpool(dataset._pinned, False))

    @router.post("/datasets/files")
    async def dataset_files(request: Request):
        dataset = dataset_from(await request.json())
        return await run_in_threadpool(
            tar_response, ws, lambda folder: dataset.download(folder, overwrite=True))


def checked_entries(ws, manifest) -> list[dict]:
    """Pinned files a client sends back: URLs, or files inside one of this workspace's
    datastores (never other paths of this machine)."""
    from runyard.data import remote, served
    from runyard.data.datastore import load_config

    if not isinstance(manifest, list) or not all(isinstance(e, dict) and isinstance(e.get("url"), str)
                                                 for e in manifest):
        raise UserErrorException("manifest is a list of file entries, each with a url.")
    for entry in manifest:
        if remote.scheme(entry["url"]) in ("http", "https", "s3"):
            continue
        config = load_config(ws, entry.get("datastore") or "") if entry.get("datastore") else None
        if config is None or config["kind"] != "local" or \
                not Path(entry["url"]).resolve().is_relative_to(Path(config["folder"]).resolve()):
            raise UserErrorException(served.LOCAL_FILES.format(what=repr(entry["url"])))
    return manifest


def _store_upload(ws, store, spool, overwrite: bool) -> None:
    from runyard import archives

    with tempfile.TemporaryDirectory(dir=ws.location) as tmp:
        unpacked = Path(tmp) / "upload"
        names = archives.unpack(spool, unpacked, "The upload")
        if not names:
            raise UserErrorException("The upload holds no files.")
        store._put([(unpacked / name, name) for name in sorted(names)], overwrite, lambda _line: None)
