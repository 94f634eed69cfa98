"""Registered environments of a workspace reached through `runyard server`."""

from __future__ import annotations


class ServerEnvironments:
    """The registered environments of a workspace reached through `runyard server`."""

    def __init__(self, workspace):
        self.server = workspace._server

    def register(self, name: str, definition: dict) -> str:
        return self.server.post_query("/environments", definition, name=name)["version"]

    def get(self, name: str, version=None) -> tuple[dict, int]:
        found = self.server.get("/environments/one", name=name,
                                **({} if version is None else {"version": str(version)}))
        return found["definition"], found["version"]

    def latest_all(self) -> dict[str, tuple[dict, int]]:
        return {name: tuple(pair) for name, pair in self.server.get("/environments").items()}
