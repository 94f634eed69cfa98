"""MLflow's deployments plugin for runyard (what azureml-mlflow is for Azure): MLflow's own
deploy flow and `mlflow deployments` CLI create, update, delete, list, get and score runyard
endpoints.

    client = mlflow.deployments.get_deploy_client(ws.get_mlflow_tracking_uri())
    client.create_deployment("digits", model_uri="models:/digits/1", config={...})
    client.predict("digits", {"instances": [[...]]})

Targets: `runyard` (the workspace of the nearest config.json, as Workspace.from_config()),
`runyard:/<workspace folder>`, or a workspace's own tracking URI (`sqlite:///<folder>/mlflow.db`,
what `ws.get_mlflow_tracking_uri()` returns for a workspace on this machine). Models: a runyard
or MLflow registry version (`models:/name/version`, `models:/name/latest`) or a run's folder
(`runs:/<MLflow run id>/model`); an MLflow model that is not a runyard model yet is registered
as one under the same name first. Config: a deploy-config.json (`{"deploy-config-file": path}`,
Azure's form: computeType ACI or local, containerResourceRequirements, authEnabled) or its keys
inline. Registered by the `mlflow.deployments` entry points in pyproject.toml.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException

SCHEME = "runyard"


def target_help() -> str:
    return __doc__ or ""


def run_local(name, model_uri, flavor=None, config=None):
    """`mlflow deployments run-local -t runyard`: a deployment on this machine is what runyard
    makes anyway; it is created in the nearest workspace and left running."""
    return RunyardDeploymentClient(SCHEME).create_deployment(name, model_uri, flavor, config)


def workspace_of(target_uri: str):
    """The workspace a deployment target names (see the module's docstring)."""
    from runyard.workspace.workspace import Workspace

    parsed = urlparse(target_uri)
    if target_uri == SCHEME or (parsed.scheme == SCHEME and not parsed.path.strip("/")):
        return Workspace.from_config()
    if parsed.scheme == SCHEME:
        folder = Path(parsed.path)
    elif parsed.scheme == "sqlite":
        folder = Path(parsed.path).parent
    else:
        folder = None
    if folder is None or not (folder / "workspace.json").is_file():
        raise MlflowException(
            f"{target_uri!r} is not a runyard workspace. Use 'runyard' (the workspace of the "
            "nearest config.json), 'runyard:/<workspace folder>' or ws.get_mlflow_tracking_uri().")
    name = json.loads((folder / "workspace.json").read_text()).get("name") or folder.name
    return Workspace(workspace_name=name, location=folder)


class RunyardDeploymentClient(BaseDeploymentClient):
    """Deployments are runyard endpoints (Webservice) serving registered models without code."""

    def __init__(self, target_uri):
        super().__init__(target_uri)
        self.workspace = workspace_of(target_uri)

    # -- create / update / delete ---------------------------------------------------------
    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        from runyard.models.model import Model
        from runyard.serving.webservice import Webservice

        _refuse_endpoint(endpoint)
        if name in {service.name for service in Webservice.list(self.workspace)}:
            raise MlflowException(f"Deployment {name!r} already exists; update_deployment changes it.")
        model = self._model(model_uri)
        service = Model.deploy(self.workspace, name, [model], deployment_config=_deployment_config(config))
        service.wait_for_deployment(show_output=False)
        return self.get_deployment(name)

    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        _refuse_endpoint(endpoint)
        service = self._service(name)
        models = [self._model(model_uri)] if model_uri else None
        service.update(models=models, deployment_config=_deployment_config(config) if config else None)
        service.wait_for_deployment(show_output=False)
        return self.get_deployment(name)

    def delete_deployment(self, name, config=None, endpoint=None):
        _refuse_endpoint(endpoint)
        self._service(name).delete()

    # -- read -------------------------------------------------------------------------------
    def list_deployments(self, endpoint=None):
        from runyard.serving.webservice import Webservice

        return [_describe(service) for service in Webservice.list(self.workspace)]

    def get_deployment(self, name, endpoint=None):
        return _describe(self._service(name))

    def predict(self, deployment_name=None, inputs=None, endpoint=None):
        """Score `inputs`: a TensorFlow Serving body ({"instances": ...} or {"inputs": ...}), a
        list of rows, a numpy array or a pandas DataFrame (its rows)."""
        if deployment_name is None:
            raise MlflowException("predict needs deployment_name.")
        return PredictionsResponse(self._service(deployment_name).run(_body(inputs)))

    # -- helpers ----------------------------------------------------------------------------
    def _service(self, name):
        from runyard.errors import NotFoundError
        from runyard.serving.webservice import Webservice

        try:
            return Webservice(self.workspace, name)
        except NotFoundError as exc:
            raise MlflowException(str(exc)) from None

    def _model(self, model_uri: str):
        """The runyard model version `model_uri` names, registered from MLflow when needed."""
        from runyard.models.model import Model

        parsed = urlparse(str(model_uri))
        if parsed.scheme == "models":
            parts = parsed.path.strip("/").split("/")
            if len(parts) == 2:
                name, version = parts
                known = {m.version for m in Model.list(self.workspace, name=name)}
                if version == "latest" and known:
                    return Model(self.workspace, name)
                if version.isdigit() and int(version) in known:
                    return Model(self.workspace, name, version=int(version))
            name = parts[0]
        elif parsed.scheme == "runs":
            name = parsed.path.strip("/").split("/")[-1] or "model"
        else:
            raise MlflowException(f"model_uri is models:/<name>/<version> or runs:/<run id>/<path>. "
                                  f"Received: {model_uri!r}")
        return self._register_from_mlflow(str(model_uri), name)

    def _register_from_mlflow(self, model_uri: str, name: str):
        import tempfile

        import mlflow

        from runyard.models.model import Model

        with tempfile.TemporaryDirectory() as tmp:
            try:
                folder = mlflow.artifacts.download_artifacts(
                    model_uri, dst_path=tmp, tracking_uri=self.workspace.get_mlflow_tracking_uri())
            except MlflowException as exc:
                raise MlflowException(f"No model at {model_uri!r} in workspace "
                                      f"{self.workspace.name!r}: {exc.message}") from None
            return Model.register(self.workspace, folder, name,
                                  description=f"Registered from MLflow's {model_uri} to deploy it.")


def _refuse_endpoint(endpoint) -> None:
    if endpoint is not None:
        raise MlflowException("runyard deployments have no separate endpoints; leave endpoint out.")


def _deployment_config(config: dict | None):
    """Azure's deploy-config.json (a file named by `deploy-config-file`, or its keys inline) ->
    a runyard deployment configuration (ACI's settings are recorded; local runs on a port)."""
    from runyard.serving.configs import aci_deploy_configuration, local_deploy_configuration

    config = dict(config or {})
    if "deploy-config-file" in config:
        path = Path(config.pop("deploy-config-file"))
        try:
            config = {**json.loads(path.read_text()), **config}
        except (OSError, ValueError) as exc:
            raise MlflowException(f"Cannot read the deploy-config-file {str(path)!r}: {exc}") from None
    compute = str(config.get("computeType", "aci")).lower()
    resources = config.get("containerResourceRequirements") or {}
    if compute == "local":
        port = config.get("port")
        return local_deploy_configuration(port=int(port) if port else None)
    if compute != "aci":
        raise MlflowException(f"computeType is 'aci' or 'local' here. Received: {compute!r}")
    return aci_deploy_configuration(
        cpu_cores=float(resources.get("cpu", 1)), memory_gb=float(resources.get("memoryInGB", 1)),
        auth_enabled=bool(config.get("authEnabled", False)), tags=config.get("tags"),
        description=config.get("description"))


def _describe(service) -> dict:
    record = service.serialize()
    return {"name": record["name"], "state": record["state"], "scoring_uri": record["scoringUri"],
            "models": record["models"], "compute_type": record["computeType"],
            "auth_enabled": record["authEnabled"], "error": record["error"]}


def _body(inputs) -> str:
    if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a pandas DataFrame
        inputs = inputs.values.tolist()
    elif hasattr(inputs, "tolist"):  # a numpy array
        inputs = inputs.tolist()
    if isinstance(inputs, list):
        inputs = {"instances": inputs}
    return inputs if isinstance(inputs, str) else json.dumps(inputs)
