"""A workspace reached through `runyard server` (team mode): config.json names the server's
URL, and nothing of the server's disk or database is needed on this machine.

Runs (submit, status, logs, metrics, files, logging, cancel) go through runyard's server API;
MLflow calls (metrics history, artifacts through the server's proxy) through MLflow's REST
API on the same port, with the workspace token as MLflow's bearer token.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from runyard import settings
from runyard.compat import cached_property
from runyard.errors import UserErrorException
from runyard.workspace.workspace import Workspace, _validate_name

NO_FOLDER = ("This needs the workspace's folder and database, which are on the runyard server's "
             "machine: do it there, with the server's workspace folder (--workspace-dir).")


class RemoteWorkspace(Workspace):
    """A workspace reached through `runyard server`: a Workspace for v1 code (isinstance holds),
    whose backend is the server's; `location` is the server's URL, shown where an embedded
    workspace shows its folder."""

    def __init__(self, workspace_name: str, server_url: str, token: str | None = None):
        from runyard.server import THROUGH_THE_PROXY
        from runyard.server.client import ServerClient

        if not str(server_url).startswith(("http://", "https://")):
            raise UserErrorException(
                f"server_url must be an http:// or https:// URL of a runyard server. "
                f"Received: server_url={server_url!r}")
        self.name = _validate_name(workspace_name)
        self.server_url = str(server_url).rstrip("/")
        self._stores = {}
        self._server = ServerClient(self.server_url, token)
        if token:
            # MLflow's REST client takes its credentials from the environment only.
            os.environ["MLFLOW_TRACKING_TOKEN"] = token
        for name, value in THROUGH_THE_PROXY.items():
            os.environ.setdefault(name, value)

    @property
    def location(self) -> str:
        """The server's URL, shown where an embedded workspace shows its folder."""
        return self.server_url

    @classmethod
    def from_config_data(cls, data: dict, config_path: Path) -> RemoteWorkspace:
        token = os.environ.get(settings.WORKSPACE_TOKEN) or data.get("token")
        return cls(data.get("workspace_name") or "default", data["server_url"], token)

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> Path:
        """Write .runyard/config.json naming the server (never the token)."""
        import json

        target = Path(path or ".").expanduser().resolve() / ".runyard" / (file_name or "config.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(
            {"workspace_name": self.name, "server_url": self.server_url}, indent=2) + "\n")
        return target

    @property
    def tracking_uri(self) -> str:
        return self.server_url

    job_tracking_uri = tracking_uri

    @property
    def runs_dir(self) -> PurePosixPath:
        return PurePosixPath("runs")  # the server's layout, shown in get_details()

    @property
    def snapshots_dir(self) -> Path:
        """A local staging store: snapshots are taken here, then only what the server lacks
        is uploaded."""
        return settings.runyard_cache() / "snapshots"

    # Nothing of the server's folder or database is on this machine: what needs them says so.
    @property
    def _registry(self):
        raise UserErrorException(NO_FOLDER)

    @property
    def artifacts_dir(self) -> Path:
        raise UserErrorException(NO_FOLDER)

    def configure_stores(self, *args, **kwargs) -> None:
        raise UserErrorException(NO_FOLDER)

    @cached_property
    def backend(self):
        """Where this workspace's resources live: the server's, reached over HTTP."""
        from runyard.backends import Backend

        return Backend(self, "server")

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, server_url={self.server_url!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RemoteWorkspace) and other.server_url == self.server_url

    def __hash__(self) -> int:
        return hash(self.server_url)
