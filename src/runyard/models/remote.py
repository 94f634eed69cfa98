"""Registered models of a workspace reached through `runyard server`: metadata through its
API, the model's file or folder as a tar archive both ways (packed and unpacked here, on
either side)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from runyard import archives
from runyard.errors import UserErrorException


def unpack(spool, into: Path) -> Path:
    """Extract an archive made by archives.pack_folder (plain files and folders only, inside
    `into`, which must not exist); returns its one top entry."""
    archives.unpack(spool, into, "The model archive")
    tops = sorted(into.iterdir())
    if len(tops) != 1:
        raise UserErrorException(
            f"A model archive holds one file or folder; it has {[p.name for p in tops]}.")
    return tops[0]


class ServerModels:
    """The model versions of a workspace reached through `runyard server` (the models
    interface of backends/__init__.py)."""

    def __init__(self, workspace):
        self.ws, self.server = workspace, workspace._server

    def register(self, name: str, source: Path, *, framework, framework_version, description,
                 tags: dict, properties: dict, resources: dict | None, run_id: str | None,
                 mlflow_run_id: str | None) -> dict:
        meta = dict(framework=framework, framework_version=framework_version, description=description,
                    tags=tags, properties=properties, resources=resources, run_id=run_id,
                    mlflow_run_id=mlflow_run_id)
        with tempfile.TemporaryFile() as spool:
            archives.pack_folder(source, spool, "Model folder")
            return self.server.request(
                "POST", "/models", params={"name": name, "meta": json.dumps(meta)}, data=spool).json()

    def get(self, name: str, version=None) -> dict:
        params = {"name": name, **({} if version is None else {"version": str(version)})}
        return self.server.get("/models/one", **params)

    def list(self, name=None, run_id=None, framework=None) -> list[dict]:
        params = {k: v for k, v in (("name", name), ("run_id", run_id), ("framework", framework))
                  if v is not None}
        return self.server.get("/models", **params)

    def update_metadata(self, name: str, version: int, **values) -> dict:
        return self.server.post_query("/models/metadata", values, name=name, version=str(version))

    def delete(self, name: str, version: int) -> None:
        """The server checks its endpoints and deletes it there."""
        self.server.request("DELETE", "/models/one", params={"name": name, "version": version})

    def url(self, record: dict) -> str:
        """On the server's machine: shown as the server's URL and the version's place there."""
        return f"{self.ws.server_url}#models/{record['name']}/{record['version']}/{record['asset']}"

    def download(self, record: dict, into: Path) -> Path:
        """The version's file or folder under `into`, as the server sends it; returns its path."""
        response = self.server.request(
            "GET", "/models/files", params={"name": record["name"], "version": record["version"]},
            stream=True)
        with tempfile.TemporaryFile() as spool:
            for chunk in response.iter_content(1 << 20):
                spool.write(chunk)
            spool.seek(0)
            return unpack(spool, into / "unpacked")
