"""Compute targets of a workspace reached through `runyard server`: the server creates,
attaches, inspects and deletes them (its supervisors are the ones that connect to the
clusters); the client gets their records without the Ray token."""

from __future__ import annotations

from dataclasses import asdict


def find(workspace, name: str) -> dict | None:
    from runyard.errors import ComputeTargetException

    try:
        return workspace._server.get("/compute/one", name=name)
    except ComputeTargetException:
        return None


def get(workspace, name: str) -> dict:
    return workspace._server.get("/compute/one", name=name)


def list_all(workspace) -> list[dict]:
    return workspace._server.get("/compute")


def create(workspace, name: str, provisioning_configuration) -> None:
    workspace._server.post("/compute", {"name": name, "provisioning": asdict(provisioning_configuration)})


def attach(workspace, name: str, attach_configuration) -> None:
    # The Ray token goes to the server, which keeps it like a datastore's keys.
    workspace._server.post("/compute/attach", {"name": name, **asdict(attach_configuration)})


def status(workspace, name: str) -> dict:
    return workspace._server.get("/compute/status", name=name)


def nodes(workspace, name: str) -> list[dict]:
    return workspace._server.get("/compute/nodes", name=name)


def delete(workspace, name: str) -> None:
    workspace._server.request("DELETE", "/compute/one", params={"name": name})


def public(record: dict) -> dict:
    """A target's record as a client may see it: no Ray token."""
    return {**record, "secret": None}
