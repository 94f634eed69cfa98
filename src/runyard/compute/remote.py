"""Compute targets of a workspace reached through `runyard server` (the compute interface of
backends/__init__.py): the server creates, attaches, inspects and deletes them (its supervisors
are the ones that connect to the clusters); the client gets their records without the Ray
token."""

from __future__ import annotations

import builtins
from dataclasses import asdict

from runyard.errors import NotFoundError


class ServerComputeTargets:
    def __init__(self, workspace):
        self.server = workspace._server

    def find(self, name: str) -> dict | None:
        try:
            return self.get(name)
        except NotFoundError:
            return None

    def get(self, name: str) -> dict:
        return self.server.get("/compute/one", name=name)

    def list(self) -> list[dict]:
        return self.server.get("/compute")

    def create(self, name: str, provisioning) -> None:
        self.server.post("/compute", {"name": name, "provisioning": asdict(provisioning)})

    def attach(self, name: str, attach) -> None:
        # The Ray token goes to the server, which keeps it like a datastore's keys.
        self.server.post("/compute/attach", {"name": name, **asdict(attach)})

    def alive(self, name: str) -> int:
        return sum(n["nodeState"] != "dead" for n in self.nodes(name))

    def status(self, name: str) -> dict:
        return self.server.get("/compute/status", name=name)

    def nodes(self, name: str) -> builtins.list[dict]:
        return self.server.get("/compute/nodes", name=name)

    def delete(self, name: str) -> None:
        self.server.request("DELETE", "/compute/one", params={"name": name})


def public(record: dict) -> dict:
    """A target's record as a client may see it: no Ray token."""
    return {**record, "secret": None}
