"""Endpoints of a workspace reached through `runyard server`: the server checks, records and
runs them on its machine; clients score them through the server's port
(`<server>/endpoints/<name>/score`), with the endpoint's key, or the workspace token when the
endpoint has no keys."""

from __future__ import annotations


def deploy(workspace, name: str, fields: dict, primary_key, secondary_key, overwrite: bool) -> None:
    workspace._server.post("/endpoints", {"name": name, "fields": fields, "overwrite": bool(overwrite),
                                          "primary_key": primary_key, "secondary_key": secondary_key})


def update(workspace, name: str, fields: dict) -> None:
    workspace._server.post("/endpoints/update", {"name": name, "fields": fields})


def find(workspace, name: str) -> dict | None:
    from runyard.errors import WebserviceException

    try:
        return get(workspace, name)
    except WebserviceException:
        return None


def get(workspace, name: str) -> dict:
    return workspace._server.get("/endpoints/one", name=name)


def list_all(workspace) -> list[dict]:
    return workspace._server.get("/endpoints")


def log_reader(workspace, name: str):
    return workspace._server.reader("/endpoints/log", name=name)


def call(workspace, name: str, action: str, **values) -> None:
    """reload, delete or regen_key, done by the server."""
    workspace._server.post(f"/endpoints/{action}", {"name": name, **values})


def base_url(workspace, name: str) -> str:
    return f"{workspace.server_url}/endpoints/{name}"
