"""Datastores and datasets of a workspace reached through `runyard server` (the datastores and
datasets interfaces of backends/__init__.py). The server lists, pins, registers and reads the
files (its datastores may be folders on its machine, and it holds their keys); files travel as
tar archives both ways; dataset records as in data/local.py."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runyard import archives
from runyard.data.progress import Progress
from runyard.errors import UserErrorException

LOCAL_FILES = ("{what}: local paths name files on this machine, which the runyard server cannot "
               "read. Upload them to a datastore first, e.g. Dataset.File.upload_directory("
               "'folder', (ws.get_default_datastore(), 'name')), and use the dataset it returns, "
               "or Dataset.File.from_files((datastore, 'name/**')).")


def refuse_local_sources(definition: dict, what: str) -> None:
    if any(source["kind"] == "local" for source in definition["sources"]):
        raise UserErrorException(LOCAL_FILES.format(what=what))


class ServerDatastores:
    def __init__(self, workspace):
        self.server = workspace._server

    def config(self, name: str) -> dict:
        """The datastore's config without its keys."""
        return self.server.get("/datastores/one", name=name)

    def names(self) -> list[str]:
        return self.server.get("/datastores")["names"]

    def default_name(self) -> str:
        return self.server.get("/datastores")["default"]

    def register_local_folder(self, name: str, folder, overwrite: bool, create_if_not_exists: bool) -> None:
        raise UserErrorException(
            "register_local_folder names a folder of this machine, which the runyard server "
            "cannot read. Register it with `runyard` on the server's machine, or upload the "
            "files to a datastore (ws.get_default_datastore().upload(...)).")

    def register_s3(self, datastore_name: str, bucket_name: str, prefix: str, endpoint_url, region,
                    access_key_id, secret_access_key, overwrite: bool, create_if_not_exists: bool,
                    skip_validation: bool) -> None:
        """The server checks the bucket and keeps the keys."""
        self.server.post("/datastores/s3", dict(
            datastore_name=datastore_name, bucket_name=bucket_name, prefix=prefix,
            endpoint_url=endpoint_url, region=region, access_key_id=access_key_id,
            secret_access_key=secret_access_key, overwrite=overwrite,
            create_if_not_exists=create_if_not_exists, skip_validation=skip_validation))

    def set_default(self, name: str) -> None:
        self.server.post("/datastores/default", {"name": name})

    def unregister(self, name: str) -> None:
        self.server.request("DELETE", "/datastores/one", params={"name": name})

    def upload(self, name: str, pairs: list[tuple[Path, str]], overwrite: bool, emit) -> None:
        """Local files to paths in a datastore: one archive, stored by the server (which
        refuses existing paths unless overwrite, before writing anything)."""
        progress = Progress(f"Uploading to {name}", len(pairs), sum(p.stat().st_size for p, _ in pairs), emit)
        with tempfile.TemporaryFile() as spool:
            archives.pack(pairs, spool, progress=progress)
            self.server.request("PUT", "/datastores/files", data=spool,
                                params={"name": name, "overwrite": str(bool(overwrite)).lower()})
        progress.done()

    def download(self, name: str, prefix: str, target: Path, overwrite: bool, show_progress: bool) -> int:
        response = self.server.request("GET", "/datastores/files", stream=True,
                                       params={"name": name, "prefix": prefix})
        return len(_receive(response, target, overwrite))


class ServerDatasets:
    def __init__(self, workspace):
        self.server = workspace._server

    def entries(self, definition: dict) -> list[dict]:
        """The files of a dataset over datastores or URLs, listed and pinned by the server."""
        refuse_local_sources(definition, "A dataset used through a server's workspace")
        return self.server.post("/datasets/entries", {"definition": definition})

    def pinned(self, definition: dict, show_progress: bool = True) -> list[dict]:
        return self.entries(definition)  # (the server pinned them)

    def register(self, name: str, definition: dict, description, tags: dict,
                 create_new_version: bool, show_progress: bool = True) -> dict:
        refuse_local_sources(definition, f"Registering dataset {name!r} in a server's workspace")
        return self.server.post("/datasets", {
            "name": name, "definition": definition, "description": description, "tags": tags,
            "create_new_version": bool(create_new_version)})

    def get_by_name(self, name: str, version="latest") -> dict:
        return self.server.get("/datasets/one", name=name, version=str(version or "latest"))

    def get_by_id(self, dataset_id: str) -> dict:
        return self.server.get("/datasets/one", id=str(dataset_id))

    def latest_all(self) -> dict[str, dict]:
        return self.server.get("/datasets")

    def versions(self, name: str) -> list[dict]:
        return self.server.get("/datasets/versions", name=name)

    def download(self, record: dict, target: Path, overwrite: bool, label: str) -> list[str]:
        response = self.server.request("POST", "/datasets/files", stream=True, json={
            "definition": record["definition"], "manifest": record["manifest"]})
        return _receive(response, target, overwrite)

    def mount(self, record: dict, point: Path, label: str) -> None:
        """No view of the server's files here: a copy (removed when the mount stops)."""
        self.download(record, point, False, label)


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
