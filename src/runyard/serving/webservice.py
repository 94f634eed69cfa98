"""v1 Webservice, AciWebservice and LocalWebservice: handles on a deployed endpoint.

The endpoint itself is a separate server process recorded in the workspace; these objects
only read its record, talk to it over HTTP and start or stop it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from runyard.errors import UserErrorException, WebserviceException, received
from runyard.serving import store
from runyard.serving.configs import (
    aci_deploy_configuration,
    local_deploy_configuration,
)


class Webservice:
    """A deployed endpoint (v1: azureml.core.webservice.Webservice).

    Example:
        service = Webservice(ws, "digits-svc")
        service.run(json.dumps({"instances": rows}))
    """

    def __new__(cls, workspace, name: str, *args, **kwargs):
        if cls is Webservice:  # v1 returns the subclass of the service's compute type
            record = workspace.backend.endpoints.get(name)
            service = object.__new__(_class_of(record))
            service._record = record  # (read once)
            return service
        return super().__new__(cls)

    def __init__(self, workspace, name: str, must_exist: bool = True):
        self.workspace, self.name = workspace, name
        self._endpoints = workspace.backend.endpoints
        if getattr(self, "_record", None) is None:
            self._record = self._endpoints.get(name)

    @staticmethod
    def _of(workspace, record: dict) -> Webservice:
        """The handle on a service whose record is at hand (Webservice.list)."""
        service = object.__new__(_class_of(record))
        service._record = record
        service.__init__(workspace, record["name"])
        return service

    # -- state ------------------------------------------------------------------------------
    def _refresh(self) -> dict:
        self._record = self._endpoints.get(self.name)
        return self._record

    @property
    def state(self) -> str:
        return self._refresh()["state"]

    @property
    def error(self) -> str | None:
        return self._refresh()["error"]

    @property
    def compute_type(self) -> str:
        return self._record["spec"]["compute_type"]

    @property
    def port(self) -> int | None:
        if self._record["port"] is None:
            self._refresh()
        return self._record["port"]

    def _base_url(self) -> str | None:
        """Where the endpoint answers: on loopback here, through the server's port for a
        workspace reached through `runyard server`."""
        if self._record["port"] is None:
            self._refresh()  # (it may have one now)
        return self._endpoints.base_url(self._record)

    @property
    def scoring_uri(self) -> str | None:
        base = self._base_url()
        return f"{base}/score" if base else None

    @property
    def swagger_uri(self) -> str | None:
        base = self._base_url()
        return f"{base}/swagger.json" if base else None

    @property
    def models(self) -> list:
        from runyard.models.model import Model

        return [Model(self.workspace, m["name"], version=m["version"]) for m in self._record["spec"]["models"]]

    @property
    def tags(self) -> dict:
        return dict(self._record["spec"]["tags"])

    @property
    def description(self) -> str | None:
        return self._record["spec"]["description"]

    @property
    def auth_enabled(self) -> bool:
        return bool(self._record["keys"])

    @property
    def created_time(self) -> datetime:
        return datetime.fromtimestamp(self._record["created_at"], tz=timezone.utc)

    @property
    def updated_time(self) -> datetime:
        return datetime.fromtimestamp(self._record["updated_at"], tz=timezone.utc)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(workspace={self.workspace.name!r}, name={self.name!r}, "
                f"state={self._record['state']!r}, scoring_uri={self.scoring_uri!r})")

    def _repr_html_(self) -> str:
        from runyard.ui import reprs

        return reprs.webservice(self)

    def serialize(self) -> dict:
        record = self._refresh()
        return {"name": self.name, "computeType": self.compute_type, "state": record["state"],
                "scoringUri": self.scoring_uri, "swaggerUri": self.swagger_uri,
                "models": [f"{m['name']}:{m['version']}" for m in record["spec"]["models"]],
                "entryScript": record["spec"]["entry_script"], "error": record["error"],
                "authEnabled": self.auth_enabled, "generation": record["generation"],
                "pid": record["pid"], "createdTime": self.created_time.isoformat(),
                "cpuCores": record["spec"]["cpu_cores"], "memoryGB": record["spec"]["memory_gb"]}

    # -- waiting and logs -------------------------------------------------------------------
    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float | None = None) -> None:
        """Wait until the service serves its latest configuration (show_output: stream its log
        meanwhile); raises WebserviceException (with the end of its logs) when it failed."""
        from runyard.runs.follow import follow

        deadline = None if timeout_sec is None else time.monotonic() + timeout_sec

        def settled() -> bool:
            record = self._refresh()
            return (record["state"] in (store.FAILED, store.UNHEALTHY) or _serving(record)
                    or (deadline is not None and time.monotonic() > deadline))

        if show_output:
            for text in follow(self._log_source(), settled):
                sys.stdout.write(text)
                sys.stdout.flush()
        else:
            while not settled():
                time.sleep(0.1)
        record = self._record
        if _serving(record):
            if show_output:
                print(f"Service {self.name}: Healthy at {self.scoring_uri}")
            return
        if record["state"] in (store.FAILED, store.UNHEALTHY):
            logs = self.get_logs(num_lines=40)
            raise WebserviceException(
                f"Service {self.name} is {record['state']}: {record['error']}\n"
                f"Last lines of its logs:\n{logs}", logs=logs)
        raise WebserviceException(
            f"Service {self.name} is still {record['state']} after {timeout_sec} s. "
            "service.get_logs() shows what it is doing.")

    def _log_source(self):
        """The server log: its file, or a read(offset) through `runyard server`."""
        return self._endpoints.log_source(self.name)

    def get_logs(self, num_lines: int = 5000, init: bool = False) -> str:
        source = self._log_source()
        if callable(source):
            data = source(0)
            text = "" if data is None else data.decode(errors="replace")
        else:
            text = source.read_text(errors="replace") if source.exists() else ""
        lines = text.splitlines()
        return "\n".join(lines[-num_lines:]) + "\n" if lines else ""

    # -- requests ---------------------------------------------------------------------------
    def run(self, input_data) -> object:
        """POST input_data (a JSON string, or a value to encode) to the scoring URI; returns
        the decoded answer. Error answers raise WebserviceException."""
        body = input_data if isinstance(input_data, str | bytes) else json.dumps(input_data)
        status, answer = self._post("/score", body.encode() if isinstance(body, str) else body)
        if status != 200:
            raise WebserviceException(
                f"Received bad response from service {self.name}. Status code: {status}. "
                f"Response: {answer.decode(errors='replace')[:2000]}")
        return json.loads(answer)

    def _post(self, path: str, body: bytes | None, key: str | None = None) -> tuple[int, bytes]:
        if not self.port:
            raise WebserviceException(f"Service {self.name} has no port yet (state "
                                      f"{self.state}); call wait_for_deployment() first.")
        headers = {"Content-Type": "application/json"}
        key = key or self._endpoints.request_key(self._record)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(f"{self._base_url()}{path}", data=body,
                                         headers=headers, method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError as exc:
            raise WebserviceException(
                f"Cannot reach service {self.name} at {self.scoring_uri}: {exc}. Its state is "
                f"{self.state}; service.get_logs() shows why.") from None

    # -- keys -------------------------------------------------------------------------------
    def get_keys(self) -> tuple[str, str]:
        keys = self._refresh()["keys"]
        if not keys:
            raise WebserviceException(
                f"Service {self.name} does not use keys. Deploy it with "
                "AciWebservice.deploy_configuration(auth_enabled=True).")
        return keys[0], keys[1]

    def regen_key(self, key: str, set_key: str | None = None) -> None:
        """Replace the 'Primary' or 'Secondary' key (with set_key, or a new random one)."""
        import secrets

        slots = {"primary": 0, "secondary": 1}
        if str(key).lower() not in slots:
            raise UserErrorException(f"key must be 'Primary' or 'Secondary'. Received: key={received(key)}")
        self.get_keys()  # (refused for a service without keys)
        self._endpoints.set_key(self.name, slots[str(key).lower()], set_key or secrets.token_urlsafe(24))
        self._refresh()

    def get_token(self):
        raise WebserviceException("Token auth is not available; use key auth (auth_enabled=True).")

    # -- changes ----------------------------------------------------------------------------
    def update(self, models=None, inference_config=None, deployment_config=None, *,
               auth_enabled: bool | None = None, tags: dict | None = None,
               description: str | None = None, wait: bool = False, **_unused) -> None:
        """Serve new models or a new entry script. The server loads them beside the running
        version and switches when they are ready: requests in flight finish on the old one."""
        from runyard.serving.arguments import config_like, spec_fields
        from runyard.serving.spec import EndpointSpec

        base = EndpointSpec(**self._refresh()["spec"])
        config = deployment_config
        if config is None and (auth_enabled is not None or tags is not None or description is not None):
            config = config_like(base, auth_enabled, tags, description)
        fields = spec_fields(self.workspace, self.name, models, inference_config, config, base=base)
        self._record = self._endpoints.update(self.name, fields)
        if wait:
            self.wait_for_deployment()

    def reload(self, wait: bool = False) -> None:
        """Restart the server from the recorded configuration (after a crash or a reboot)."""
        self._endpoints.reload(self.name)
        self._refresh()
        if wait:
            self.wait_for_deployment()

    def delete(self) -> None:
        """Stop the server and everything it started, and forget the service."""
        self._endpoints.delete(self.name)

    @staticmethod
    def list(workspace, compute_type: str | None = None, image_name=None, image_id=None,
             model_name: str | None = None, model_id: str | None = None, tags=None,
             properties=None, image_digest=None) -> list[Webservice]:
        services = [Webservice._of(workspace, r) for r in workspace.backend.endpoints.list()]
        if compute_type is not None:
            services = [s for s in services if s.compute_type.lower() == compute_type.lower()]
        if model_name is not None:
            services = [s for s in services if any(m["name"] == model_name for m in s._record["spec"]["models"])]
        if model_id is not None:
            services = [s for s in services if any(f"{m['name']}:{m['version']}" == model_id
                                                   for m in s._record["spec"]["models"])]
        if tags:
            wanted = tags.items() if isinstance(tags, dict) else [(t, None) for t in tags]
            services = [s for s in services
                        if all(k in s.tags and (v is None or s.tags[k] == v) for k, v in wanted)]
        return services

    @staticmethod
    def deploy_from_model(workspace, name, models, image_config=None, deployment_config=None,
                          deployment_target=None, overwrite=False):
        """Legacy v1 entry point: image_config is an InferenceConfig here."""
        from runyard.models.model import Model

        return Model.deploy(workspace, name, models, image_config, deployment_config,
                            deployment_target, overwrite)


def _class_of(record: dict) -> type:
    return LocalWebservice if record["spec"]["compute_type"] == "Local" else AciWebservice


def _serving(record: dict) -> bool:
    """Healthy and serving the latest generation (not an older one while an update loads)."""
    return record["state"] == store.HEALTHY and record["served_generation"] == record["generation"]


class AciWebservice(Webservice):
    """v1 AciWebservice: served on this machine (loopback), with optional key auth."""

    deploy_configuration = staticmethod(aci_deploy_configuration)


class LocalWebservice(Webservice):
    """v1 LocalWebservice: served on this machine, no Docker needed."""

    deploy_configuration = staticmethod(local_deploy_configuration)
