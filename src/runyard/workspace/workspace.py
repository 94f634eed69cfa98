"""The Workspace: one folder holding the run history (MLflow), artifacts, snapshots and
runyard's own registry. Zero set-up: without a config file the default workspace under
$RUNYARD_HOME is used, and created on first use."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
import warnings
from pathlib import Path

from runyard import settings
from runyard.compat import cached_property
from runyard.errors import AlreadyExistsError, NotFoundError, UserErrorException, received
from runyard.workspace.config import AZURE_ONLY_KEYS, find_config, read_config

DEFAULT_NAME = "default"
# The database URL of a served workspace, with its password: workspace.json keeps the URL
# without it, and `runyard server` passes it to the processes it starts in this variable.
STORE_URI_ENV = settings.BACKEND_STORE_URI
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,32}$")


def _validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise UserErrorException(
            "A workspace name is 1-33 letters, digits, dashes or underscores, starting with a "
            f"letter or digit. Received: name={received(name)}"
        )
    return name


class Workspace:
    """A runyard workspace (v1: azureml.core.Workspace).

    Example:
        ws = Workspace.from_config()          # nearest config.json, else the default workspace
        ws = Workspace.create("team", path="/data/team-ws", exist_ok=True)
    """

    def __init__(self, subscription_id=None, resource_group=None, workspace_name=None, *,
                 location: str | Path | None = None, **_azure_kwargs):
        # v1 signature: Workspace(subscription_id, resource_group, workspace_name, ...).
        # Azure identifiers have no meaning here; the workspace is a local folder.
        name = workspace_name or DEFAULT_NAME
        self.name = _validate_name(name)
        self._azure_ids = (subscription_id, resource_group)
        if location is None:
            location = _default_location(name)
        self.folder = Path(location).expanduser().resolve()
        self._ensure_exists()
        self._stores = _read_stores(self.folder)
        if self._stores.get("artifacts_destination"):
            from runyard.stores import tracking

            tracking.proxy_artifacts(self.tracking_uri, self._stores["artifacts_destination"])

    # -- v1 constructors -----------------------------------------------------------------
    @classmethod
    def from_config(cls, path: str | Path | None = None, auth=None, _logger=None,
                    _file_name: str | None = None) -> Workspace:
        """The workspace named by the nearest config.json (searched upward from `path` or the
        current folder: .runyard/config.json, config.json, .azureml/config.json).
        Without one, the default workspace under $RUNYARD_HOME."""
        start = Path(path).expanduser() if path else Path.cwd()
        if start.is_file():
            config_path: Path | None = start
        else:
            config_path = find_config(start.resolve(), _file_name)
        if config_path is None:
            return cls.default()
        data = read_config(config_path)
        if data.get("server_url"):
            from runyard.workspace.remote import RemoteWorkspace

            return RemoteWorkspace.from_config_data(data, config_path)
        if data.get("location"):
            location = Path(data["location"]).expanduser()
            if not location.is_absolute():
                location = (config_path.parent / location).resolve()
            return cls(workspace_name=data.get("workspace_name") or location.name,
                       location=location)
        if any(k in data for k in AZURE_ONLY_KEYS):
            warnings.warn(
                f"{config_path} is an Azure ML config: subscription_id and resource_group are "
                f"ignored; using the local workspace {data['workspace_name']!r} under "
                f"{settings.runyard_home()}.", stacklevel=2)
        return cls(workspace_name=data["workspace_name"])

    @classmethod
    def default(cls) -> Workspace:
        return cls(workspace_name=DEFAULT_NAME)

    @classmethod
    def create(cls, name: str, auth=None, subscription_id=None, resource_group=None,
               location=None, *, path: str | Path | None = None, exist_ok: bool = False,
               show_output: bool = True, **_azure_kwargs) -> Workspace:
        """Create a workspace folder at `path` (default $RUNYARD_HOME/workspaces/<name>)."""
        _validate_name(name)
        folder = Path(path).expanduser().resolve() if path else _default_location(name)
        if (folder / "workspace.json").exists() and not exist_ok:
            raise AlreadyExistsError(
                f"A workspace already exists at {folder}. Pass exist_ok=True to use it, or "
                "choose another path."
            )
        ws = cls(workspace_name=name, location=folder)
        if show_output:
            print(f"Workspace {name!r} at {folder}")
        return ws

    @classmethod
    def get(cls, name: str, auth=None, subscription_id=None, resource_group=None, **_kwargs) -> Workspace:
        folder = _default_location(_validate_name(name))
        if not (folder / "workspace.json").exists():
            raise NotFoundError(
                f"No workspace named {name!r} under {folder.parent}. Create it with "
                f"Workspace.create({name!r}) or use Workspace.from_config()."
            )
        return cls(workspace_name=name, location=folder)

    def write_config(self, path: str | Path | None = None, file_name: str | None = None) -> Path:
        """Write .runyard/config.json under `path` (default: the current folder)."""
        target = Path(path or ".").expanduser().resolve() / ".runyard" / (file_name or "config.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(
            {"workspace_name": self.name, "location": str(self.folder)}, indent=2) + "\n")
        return target

    # -- properties --------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the workspace is, as text (v1: its Azure region): its folder here."""
        return str(self.folder)

    @property
    def subscription_id(self) -> str:
        """v1's Azure subscription: the one given to Workspace(...), else "local" (none is used)."""
        return str(getattr(self, "_azure_ids", (None, None))[0] or "local")

    @property
    def resource_group(self) -> str:
        """v1's Azure resource group: the one given to Workspace(...), else "local"."""
        return str(getattr(self, "_azure_ids", (None, None))[1] or "local")

    def get_details(self) -> dict:
        """v1's workspace details, with what they mean here."""
        return {"id": self.location, "name": self.name, "location": self.location,
                "subscriptionId": self.subscription_id, "resourceGroup": self.resource_group,
                "friendlyName": self.name, "mlFlowTrackingUri": self.tracking_uri,
                "workspaceid": self.name, "sku": "Basic"}

    @property
    def models(self) -> dict:
        """Model name -> its latest version (v1's dict)."""
        from runyard.models.model import Model

        latest: dict = {}
        for model in Model.list(self):
            if model.name not in latest or model.version > latest[model.name].version:
                latest[model.name] = model
        return latest

    @property
    def webservices(self) -> dict:
        from runyard.serving.webservice import Webservice

        return {service.name: service for service in Webservice.list(self)}

    @property
    def environments(self) -> dict:
        from runyard.environments.environment import Environment

        return Environment.list(self)

    @property
    def experiments(self) -> dict:
        from runyard.runs.experiment import Experiment

        return {name: Experiment(self, name) for name in self.backend.runs.experiments()}

    @property
    def compute_targets(self) -> dict:
        from runyard.compute.targets import list_targets

        return list_targets(self)

    @property
    def datastores(self) -> dict:
        from runyard.data.datastore import all_datastores

        return all_datastores(self)

    @property
    def datasets(self) -> dict:
        from runyard.data.dataset import Dataset

        return Dataset.get_all(self)

    def get_default_datastore(self):
        from runyard.data.datastore import Datastore

        return Datastore.get_default(self)

    def set_default_datastore(self, name: str) -> None:
        from runyard.data.datastore import Datastore

        Datastore.get(self, name).set_as_default()

    def get_mlflow_tracking_uri(self) -> str:
        return self.tracking_uri

    @property
    def tracking_uri(self) -> str:
        return self._stores.get("backend_store_uri") or f"sqlite:///{self.folder / 'mlflow.db'}"

    @property
    def artifact_root_uri(self) -> str:
        """Where new experiments keep their artifacts. A served workspace hands out
        `mlflow-artifacts:/` URIs, which clients reach through the server."""
        if self._stores.get("artifacts_destination"):
            return "mlflow-artifacts:/"
        return self.artifacts_dir.as_uri()

    @property
    def is_served(self) -> bool:
        """Whether `runyard server` serves this workspace: its processes then run other
        users' code and get only what they need of this machine's environment."""
        return bool(self._stores.get("server_url"))

    @property
    def job_tracking_uri(self) -> str:
        """The tracking URI that job processes get for their own `mlflow.*` calls: the
        server's URL when the workspace is served (so artifacts go through its proxy)."""
        return self._stores.get("server_url") or self.tracking_uri

    def configure_stores(self, backend_store_uri: str | None, artifacts_destination: str,
                         server_url: str) -> None:
        """Keep this workspace's run history and registry in `backend_store_uri` (a database
        URL; None keeps the SQLite files) and its artifacts under `artifacts_destination`
        (a folder or an object-store URL), served by `runyard server` at `server_url`."""
        marker = self.folder / "workspace.json"
        info = json.loads(marker.read_text())
        info["stores"] = {"backend_store_uri": backend_store_uri and without_password(backend_store_uri),
                          "artifacts_destination": artifacts_destination, "server_url": server_url}
        _write_private(marker, info)
        self._stores = _read_stores(self.folder)
        self.__dict__.pop("_registry", None)
        self.__dict__.pop("backend", None)
        from runyard.stores import tracking

        tracking.proxy_artifacts(self.tracking_uri, artifacts_destination)

    @property
    def artifacts_dir(self) -> Path:
        return self.folder / "artifacts"

    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    @property
    def snapshots_dir(self) -> Path:
        return self.folder / "snapshots"

    @cached_property
    def backend(self):
        """Where this workspace's resources live: runyard's registry and files on this machine
        (runyard/backends)."""
        from runyard.backends import Backend

        return Backend(self, "local")

    @cached_property
    def _registry(self):
        from runyard.stores.registry import open_registry

        url = self._stores.get("backend_store_uri") or f"sqlite:///{self.folder / 'runyard.db'}"
        return open_registry(url)

    @classmethod
    def _of_process(cls, location) -> Workspace:
        """The workspace of a process runyard started (a supervisor, a watchdog, an endpoint's
        keeper or server, a provisioner): its folder from the command line, its name from
        RUNYARD_WORKSPACE_NAME."""
        return cls(workspace_name=settings.workspace_name(), location=location)

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, location={str(self.location)!r})"

    def _repr_html_(self) -> str:
        from runyard.ui import reprs

        return reprs.workspace(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Workspace) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)

    def _ensure_exists(self) -> None:
        marker = self.folder / "workspace.json"
        if marker.exists():
            return
        # The workspace's folder is its owner's alone: its registry holds datastore keys.
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for sub in ("artifacts", "runs", "snapshots"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        _write_private(marker, {"name": self.name, "id": uuid.uuid4().hex, "created": time.time()})


def _write_private(path: Path, content: dict) -> None:
    """Write a JSON file readable by its owner only (0600), complete or not at all."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(content, indent=2))
    tmp.replace(path)


def without_password(url: str) -> str:
    """A database URL with its password left out."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@", 1)))


def _read_stores(location: Path) -> dict:
    """The store URLs that `runyard server` recorded in workspace.json (empty: embedded). The
    database URL gets its password back from RUNYARD_BACKEND_STORE_URI when that names the
    same database (else the driver looks for one: PGPASSWORD, ~/.pgpass)."""
    marker = location / "workspace.json"
    try:
        info = json.loads(marker.read_text())
        stores = (info.get("stores") if isinstance(info, dict) else None) or {}
        if not isinstance(info, dict) or not isinstance(stores, dict):
            raise ValueError("not a JSON object with an object of stores")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # (UnicodeDecodeError and JSONDecodeError too)
        raise UserErrorException(
            f"The workspace file {marker} cannot be read ({type(exc).__name__}: {exc}). Restore it "
            "from a backup, or write it again: {\"name\": \"<workspace name>\"} for a workspace "
            "on this machine (runyard server adds its stores).") from None
    given = os.environ.get(STORE_URI_ENV)
    stored = stores.get("backend_store_uri")
    if stored and given and without_password(given) == without_password(stored):
        stores["backend_store_uri"] = given
    return stores


def _default_location(name: str) -> Path:
    home = settings.runyard_home()
    return home / "workspaces" / name
