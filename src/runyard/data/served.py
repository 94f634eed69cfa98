"""Datastores and datasets of a workspace reached through `runyard server`. The server lists,
pins, registers and reads the files (its datastores may be folders on its machine, and it
holds their keys); files travel as tar archives both ways."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runyard import archives
from runyard.errors import UserErrorException

LOCAL_FILES = ("{what}: local paths name files on this machine, which the runyard server cannot "
               "read. Upload them to a datastore first, e.g. Dataset.File.upload_directory("
               "'folder', (ws.get_default_datastore(), 'name')), and use the dataset it returns, "
               "or Dataset.File.from_files((datastore, 'name/**')).")


def refuse_local_sources(definition: dict, what: str) -> None:
    if any(source["kind"] == "local" for source in definition["sources"]):
        raise UserErrorException(LOCAL_FILES.format(what=what))


# -- datastores --------------------------------------------------------------------------------
def datastores(workspace) -> dict:
    """{"names": [...], "default": name}"""
    return workspace._server.get("/datastores")


def datastore_config(workspace, name: str) -> dict:
    return workspace._server.get("/datastores/one", name=name)


def register_s3(workspace, **settings) -> None:
    workspace._server.post("/datastores/s3", settings)


def set_default(workspace, name: str) -> None:
    workspace._server.post("/datastores/default", {"name": name})


def unregister(workspace, name: str) -> None:
    workspace._server.request("DELETE", "/datastores/one", params={"name": name})


def upload(workspace, name: str, pairs: list[tuple[Path, str]], overwrite: bool, progress) -> None:
    """Local files to paths in a datastore: one archive, stored by the server (which refuses
    existing paths unless overwrite, before writing anything)."""
    with tempfile.TemporaryFile() as spool:
        archives.pack(pairs, spool, progress=progress)
        workspace._server.request("PUT", "/datastores/files", data=spool,
                                  params={"name": name, "overwrite": str(bool(overwrite)).lower()})


def download_datastore(workspace, name: str, prefix, target: Path, overwrite: bool) -> int:
    response = workspace._server.request("GET", "/datastores/files", stream=True,
                                         params={"name": name, "prefix": prefix or ""})
    return len(_receive(response, target, overwrite))


# -- datasets ----------------------------------------------------------------------------------
def wire(dataset) -> dict:
    return {"definition": dataset._definition, "manifest": dataset._manifest,
            "registration": dataset._registration}


def unwire(workspace, data: dict):
    from runyard.data.file_dataset import FileDataset

    definition = data["definition"]
    return FileDataset._from_sources(definition["sources"], workspace, definition["transforms"],
                                     data["manifest"], data["registration"])


def register(workspace, name: str, definition: dict, description, tags: dict, create_new_version: bool):
    refuse_local_sources(definition, f"Registering dataset {name!r} in a server's workspace")
    return unwire(workspace, workspace._server.post("/datasets", {
        "name": name, "definition": definition, "description": description, "tags": tags,
        "create_new_version": bool(create_new_version)}))


def get(workspace, **params):
    """By name (and version) or by id."""
    return unwire(workspace, workspace._server.get("/datasets/one", **params))


def latest_all(workspace) -> dict:
    return {name: unwire(workspace, data) for name, data in workspace._server.get("/datasets").items()}


def versions(workspace, name: str) -> list:
    return [unwire(workspace, data) for data in workspace._server.get("/datasets/versions", name=name)]


def pinned_entries(workspace, definition: dict) -> list[dict]:
    """The files of an unregistered dataset over datastores or URLs, listed and pinned by the
    server."""
    refuse_local_sources(definition, "A dataset used through a server's workspace")
    return workspace._server.post("/datasets/entries", {"definition": definition})


def download_dataset(workspace, dataset, target: Path, overwrite: bool) -> list[str]:
    response = workspace._server.request("POST", "/datasets/files", stream=True, json={
        "definition": dataset._definition, "manifest": dataset._manifest})
    return _receive(response, target, overwrite)


def _receive(response, target: Path, overwrite: bool) -> list[str]:
    """Unpack an archive of files into `target`: existing files refused (unless overwrite)
    before anything is written."""
    target = Path(target).expanduser().absolute()
    with tempfile.TemporaryDirectory() as tmp:
        with tempfile.TemporaryFile() as spool:
            for chunk in response.iter_content(1 << 20):
                spool.write(chunk)
            spool.seek(0)
            files = sorted(archives.unpack(spool, Path(tmp) / "files", "The server's answer"))
        if not overwrite:
            from runyard.data.transfer import refuse_existing

            refuse_existing([target / f for f in files])
        for rel in files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp) / "files" / rel, target / rel)
    return [str(target / f) for f in files]
