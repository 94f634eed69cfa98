"""Endpoints of a workspace on this machine (an embedded workspace, or the one `runyard
server` serves): records in the registry (serving/store.py), each served by its own
keeper and server process (serving/deploy.py). Readers mark an endpoint whose server is gone."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from runyard.errors import WebserviceExistsError
from runyard.serving import deploy, store


class LocalEndpoints:
    def __init__(self, workspace):
        self.ws = workspace

    def find(self, name: str) -> dict | None:
        record = store.find(self.ws, name)
        return None if record is None else store.checked(self.ws, record)

    def get(self, name: str) -> dict:
        return store.checked(self.ws, store.get(self.ws, name))

    def list(self) -> list[dict]:
        return [store.checked(self.ws, record) for record in store.list_all(self.ws)]

    def deploy(self, name: str, fields: dict, primary_key: str | None, secondary_key: str | None,
               overwrite: bool) -> dict:
        """Check the spec, record the endpoint and start its server (replacing one of the same
        name when asked)."""
        spec = deploy.checked_spec(self.ws, {**fields, "name": store.validate_name(name)})
        keys = deploy.new_keys(primary_key, secondary_key) if spec.auth_enabled else None
        if store.find(self.ws, name) is not None:
            if not overwrite:
                raise WebserviceExistsError(
                    f"A service named {name!r} already exists. Choose another name, pass "
                    "overwrite=True to replace it, or change it with service.update(...).")
            self.delete(name)
        store.insert(self.ws, name, spec.model_dump(), keys)
        deploy.start_server(self.ws, name)
        return store.get(self.ws, name)

    def update(self, name: str, fields: dict) -> dict:
        """Record the new spec as the next generation; the server loads it beside the running
        one (restarted when the port changes or the server is gone)."""
        record = store.get(self.ws, name)
        deploy.apply_update(self.ws, record, deploy.checked_spec(self.ws, {**fields, "name": name}))
        return self.get(name)

    def reload(self, name: str) -> None:
        """Start the server again from the record (after a crash or a reboot), same port."""
        deploy.stop_server(store.get(self.ws, name))
        store.update(self.ws, name, state=store.TRANSITIONING, error=None, served_generation=None)
        deploy.start_server(self.ws, name)

    def delete(self, name: str) -> None:
        """Stop the server and everything it started, and forget the endpoint (none: no-op)."""
        record = store.find(self.ws, name)
        if record is None:
            return
        deploy.stop_server(record)
        store.delete_row(self.ws, name)
        shutil.rmtree(store.endpoint_dir(self.ws, name), ignore_errors=True)

    def set_key(self, name: str, slot: int, key: str) -> None:
        """Replace key `slot` (0: primary, 1: secondary); returns once the server accepts it
        (it reads its keys twice a second)."""
        record = store.get(self.ws, name)
        keys = list(record["keys"])
        keys[slot] = key
        store.update(self.ws, name, keys=keys)
        if record["state"] == store.HEALTHY and record["port"]:
            deadline = time.monotonic() + 10
            while _answers_key(record["port"], key) is False and time.monotonic() < deadline:
                time.sleep(0.05)

    def log_source(self, name: str) -> Path:
        return store.log_path(self.ws, name)

    def base_url(self, record: dict) -> str | None:
        return f"http://127.0.0.1:{record['port']}" if record["port"] else None

    def request_key(self, record: dict) -> str | None:
        return (record["keys"] or [None])[0]


def _answers_key(port: int, key: str) -> bool | None:
    """Whether the endpoint on `port` accepts `key` (None: it did not answer)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/swagger.json",
                                     headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=5):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code != 401
    except OSError:
        return None
