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


def register(workspace, name: str, source: Path, **meta) -> dict:
    with tempfile.TemporaryFile() as spool:
        archives.pack_folder(source, spool, "Model folder")
        return workspace._server.request(
            "POST", "/models", params={"name": name, "meta": json.dumps(meta)}, data=spool).json()


def get(workspace, name: str, version=None) -> dict:
    params = {"name": name, **({} if version is None else {"version": str(version)})}
    return workspace._server.get("/models/one", **params)


def list_models(workspace, name=None, run_id=None, framework=None) -> list[dict]:
    params = {k: v for k, v in (("name", name), ("run_id", run_id), ("framework", framework))
              if v is not None}
    return workspace._server.get("/models", **params)


def fetch(workspace, record: dict, into: Path) -> Path:
    """Download a model version's file or folder under `into`; returns its path."""
    response = workspace._server.request(
        "GET", "/models/files", params={"name": record["name"], "version": record["version"]},
        stream=True)
    with tempfile.TemporaryFile() as spool:
        for chunk in response.iter_content(1 << 20):
            spool.write(chunk)
        spool.seek(0)
        return unpack(spool, into / "unpacked")
