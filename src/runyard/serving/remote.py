"""Endpoints of a workspace reached through `runyard server`: the server checks, records and
runs them on its machine; clients score them through the server's port
(`<server>/endpoints/<name>/score`), with the endpoint's key, or the workspace token when the
endpoint has no keys."""

from __future__ import annotations

from runyard.errors import WebserviceNotFoundError


class ServerEndpoints:
    def __init__(self, workspace):
        self.ws = workspace
        self.server = workspace._server

    def find(self, name: str) -> dict | None:
        try:
            return self.get(name)
        except WebserviceNotFoundError:
            return None

    def get(self, name: str) -> dict:
        return self.server.get("/endpoints/one", name=name)

    def list(self) -> list[dict]:
        return self.server.get("/endpoints")

    def deploy(self, name: str, fields: dict, primary_key: str | None, secondary_key: str | None,
               overwrite: bool) -> dict:
        self._upload_snapshot(fields)
        return self.server.post("/endpoints", {
            "name": name, "fields": fields, "overwrite": bool(overwrite),
            "primary_key": primary_key, "secondary_key": secondary_key})

    def update(self, name: str, fields: dict) -> dict:
        self._upload_snapshot(fields)
        return self.server.post("/endpoints/update", {"name": name, "fields": fields})

    def reload(self, name: str) -> None:
        self.server.post("/endpoints/reload", {"name": name})

    def delete(self, name: str) -> None:
        self.server.post("/endpoints/delete", {"name": name})

    def set_key(self, name: str, slot: int, key: str) -> None:
        self.server.post("/endpoints/set_key", {"name": name, "slot": slot, "key": key})

    def log_source(self, name: str):
        return self.server.reader("/endpoints/log", name=name)

    def base_url(self, record: dict) -> str:
        return f"{self.ws.server_url}/endpoints/{record['name']}"

    def request_key(self, record: dict) -> str | None:
        # The server's proxy asks for the workspace token when the endpoint has no keys.
        return (record["keys"] or [self.server.token])[0]

    def _upload_snapshot(self, fields: dict) -> None:
        """The entry script's snapshot, taken here: only the files the server lacks go up."""
        if fields.get("snapshot_id"):
            from runyard.runs.remote import upload_snapshot

            upload_snapshot(self.server, self.ws.snapshots_dir, fields["snapshot_id"])
