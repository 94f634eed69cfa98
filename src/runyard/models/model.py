"""v1 `azureml.core.Model`: a registered, versioned model file or folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from runyard import settings
from runyard.errors import AlreadyExistsError, ModelNotFoundException, UserErrorException, received
from runyard.models.resource_configuration import ResourceConfiguration


def _validate_name(name) -> str:
    # Imported on use: it needs SQLAlchemy, and an entry script may import Model in an
    # environment that has only the standard library (for Model.get_model_path).
    from runyard.models.local import validate_name

    return validate_name(name)


# Set in an endpoint's processes: the models it serves, as JSON [{name, version, path}].
DEPLOYED_MODELS_ENV = settings.DEPLOYED_MODELS


class _Framework:
    CUSTOM = "Custom"
    TENSORFLOW = "TensorFlow"
    SCIKITLEARN = "ScikitLearn"
    ONNX = "Onnx"
    TFKERAS = "TfKeras"
    PYTORCH = "PyTorch"
    MULTI = "Multi"

    @classmethod
    def all(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if k.isupper()]


def canonical_framework(value) -> str | None:
    if value is None:
        return None
    for known in _Framework.all():
        if isinstance(value, str) and value.lower() == known.lower():
            return known
    raise UserErrorException(
        f"Unknown model_framework. Received: model_framework={received(value)}. Use one of "
        f"Model.Framework: {', '.join(_Framework.all())}.")


def _string_dict(label: str, value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserErrorException(f"{label} must be a dict of strings. Received: {label}={received(value)}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _resources(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, ResourceConfiguration):
        raise UserErrorException(
            "resource_configuration must be a ResourceConfiguration(cpu=..., memory_in_gb=...). "
            f"Received: resource_configuration={received(value)}")
    return value.serialize()


class Model:
    """A registered model (v1: azureml.core.Model).

    Example:
        model = Model.register(ws, model_path="outputs/model", model_name="digits",
                               model_framework=Model.Framework.TENSORFLOW)
        Model(ws, "digits").download("./model")
    """

    Framework = _Framework

    def __init__(self, workspace, name: str | None = None, id: str | None = None, tags=None,
                 properties=None, version: int | None = None, run_id: str | None = None,
                 model_framework: str | None = None, expand: bool = True, **kwargs):
        if id is not None:
            name, _, version = str(id).partition(":")
            version = version or None
        if name is None:
            found = Model.list(workspace, tags=tags, properties=properties, run_id=run_id,
                               model_framework=model_framework)
            if not found:
                raise ModelNotFoundException("No registered model matches these filters.")
            record = found[0]._record
        elif tags or properties or run_id or model_framework:
            matches = [m for m in Model.list(workspace, name=name, tags=tags, properties=properties,
                                             run_id=run_id, model_framework=model_framework)
                       if version is None or m.version == int(version)]
            if not matches:
                raise ModelNotFoundException(f"No version of model {name!r} matches these filters.")
            record = matches[0]._record
        else:
            record = workspace.backend.models.get(name, version)
        self.workspace = workspace
        self._record = record

    @classmethod
    def _from_record(cls, workspace, record: dict) -> Model:
        model = cls.__new__(cls)
        model.workspace, model._record = workspace, record
        return model

    # -- properties ---------------------------------------------------------------------------
    name = property(lambda self: self._record["name"])
    version = property(lambda self: self._record["version"])
    id = property(lambda self: f"{self.name}:{self.version}")
    description = property(lambda self: self._record["description"])
    tags = property(lambda self: dict(self._record["tags"]))
    properties = property(lambda self: dict(self._record["properties"]))
    model_framework = property(lambda self: self._record["framework"])
    model_framework_version = property(lambda self: self._record["framework_version"])
    run_id = property(lambda self: self._record["run_id"])

    @property
    def resource_configuration(self) -> ResourceConfiguration | None:
        return ResourceConfiguration.deserialize(self._record["resources"])

    @property
    def created_time(self) -> datetime:
        return datetime.fromtimestamp(self._record["created_at"], tz=timezone.utc)

    @property
    def url(self) -> str:
        """Where the model's files are: <workspace>/models/<name>/<version>/<file or folder>
        (on the server's machine for a workspace reached through `runyard server`)."""
        return self.workspace.backend.models.url(self._record)

    def __repr__(self) -> str:
        return (f"Model(workspace={self.workspace.name!r}, name={self.name!r}, id={self.id!r}, "
                f"version={self.version}, tags={self.tags}, properties={self.properties})")

    def _repr_html_(self) -> str:
        from runyard.ui import reprs

        return reprs.model(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Model) and other.id == self.id and other.workspace == self.workspace

    def __hash__(self) -> int:
        return hash(self.id)

    def serialize(self) -> dict:
        return {"name": self.name, "version": self.version, "id": self.id,
                "description": self.description, "tags": self.tags, "properties": self.properties,
                "framework": self.model_framework, "frameworkVersion": self.model_framework_version,
                "resourceConfiguration": self._record["resources"], "runId": self.run_id,
                "createdTime": self.created_time.isoformat(), "url": self.url,
                "mlflowVersion": self._record["mlflow_version"]}

    # -- registration -------------------------------------------------------------------------
    @staticmethod
    def register(workspace, model_path, model_name: str, tags=None, properties=None,
                 description: str | None = None, datasets=None, model_framework=None,
                 model_framework_version: str | None = None, child_paths=None,
                 sample_input_dataset=None, sample_output_dataset=None,
                 resource_configuration=None) -> Model:
        """Register a local file or folder as the next version of `model_name`."""
        source = Path(os.fspath(model_path)).expanduser()
        if not source.exists():
            raise UserErrorException(
                f"model_path {str(source)!r} does not exist. Model.register takes a local file or "
                "folder; to register a file of a run, use run.register_model(model_name, model_path).")
        with tempfile.TemporaryDirectory() as tmp:
            if child_paths:
                source = _select_children(source, child_paths, Path(tmp))
            return _register(workspace, source, model_name, tags=tags, properties=properties,
                             description=description, model_framework=model_framework,
                             model_framework_version=model_framework_version,
                             resource_configuration=resource_configuration, datasets=datasets)

    @staticmethod
    def list(workspace, name: str | None = None, tags=None, properties=None, run_id=None,
             latest: bool = False, dataset_id=None, expand: bool = True, page_count: int = 255,
             model_framework: str | None = None) -> list[Model]:
        """Registered models, newest first. `tags`: ['key', ['key', 'value']] or {'key': 'value'}."""
        framework = canonical_framework(model_framework)
        records = workspace.backend.models.list(name=name, run_id=run_id, framework=framework)
        wanted_tags, wanted_props = _filters(tags), _filters(properties)
        records = [r for r in records if _matches(r["tags"], wanted_tags)
                   and _matches(r["properties"], wanted_props)]
        if latest:
            seen: set[str] = set()
            records = [r for r in records if not (r["name"] in seen or seen.add(r["name"]))]
        return [Model._from_record(workspace, r) for r in records]

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace=None) -> str:
        """The local path of a model's file or folder: in a deployment, the deployed copy;
        elsewhere the registered version in the workspace, else ./<model_name>."""
        deployed = os.environ.get(DEPLOYED_MODELS_ENV)
        if deployed:
            for entry in json.loads(deployed):
                if entry["name"] == model_name and version in (None, entry["version"]):
                    return entry["path"]
            names = ", ".join(f"{e['name']}:{e['version']}" for e in json.loads(deployed))
            raise ModelNotFoundException(
                f"Model {model_name!r}{f' version {version}' if version else ''} is not deployed "
                f"with this service. Deployed: {names}.")
        if _workspace is None and Path(model_name).exists():
            return str(Path(model_name).resolve())
        if _workspace is None:
            from runyard.workspace import Workspace

            _workspace = Workspace.from_config()
        return Model(_workspace, model_name, version=version).url

    # -- files and metadata -------------------------------------------------------------------
    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok=None) -> str:
        """Copy the model's file or folder into target_dir; returns its path there."""
        exist_ok = exist_ok if exists_ok is None else exists_ok
        target_dir = Path(target_dir).expanduser()
        dest = target_dir / self._record["asset"]
        if dest.exists() and not exist_ok:
            raise AlreadyExistsError(
                f"{dest} already exists. Nothing was downloaded; pass exist_ok=True to replace it.")
        target_dir.mkdir(parents=True, exist_ok=True)
        # Copy beside the target, then rename: an interrupted download leaves nothing behind.
        with tempfile.TemporaryDirectory(dir=target_dir, prefix=".download-") as tmp:
            staged = self.workspace.backend.models.download(self._record, Path(tmp))
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(staged, dest)
        return str(dest)

    def add_tags(self, tags: dict) -> None:
        self._set_json("tags", {**self.tags, **_string_dict("tags", tags)})

    def remove_tags(self, tags) -> None:
        keys = [tags] if isinstance(tags, str) else list(tags)
        self._set_json("tags", {k: v for k, v in self.tags.items() if k not in keys}, removed=keys)

    def add_properties(self, properties: dict) -> None:
        added = _string_dict("properties", properties)
        clash = [k for k, v in added.items() if k in self.properties and self.properties[k] != v]
        if clash:
            raise UserErrorException(f"Model properties cannot be changed once set: {', '.join(clash)}.")
        self._record = self.workspace.backend.models.update_metadata(self.name, self.version,
                                             properties={**self.properties, **added})

    def update(self, tags=None, description: str | None = None, sample_input_dataset=None,
               sample_output_dataset=None, resource_configuration=None) -> None:
        values = {}
        if description is not None:
            values["description"] = str(description)
        if resource_configuration is not None:
            values["resources"] = _resources(resource_configuration)
        if values:
            self._record = self.workspace.backend.models.update_metadata(self.name, self.version, **values)
        if tags is not None:
            self.add_tags(tags)

    def _set_json(self, field: str, value: dict, removed=()) -> None:
        from runyard.stores import tracking

        self._record = self.workspace.backend.models.update_metadata(self.name, self.version, **{field: value})
        if field == "tags" and self._record["mlflow_version"]:
            tracking.set_model_version_tags(self.workspace.tracking_uri, self.name,
                                            self._record["mlflow_version"], value, list(removed))

    def delete(self) -> None:
        """Delete this version (refused while an endpoint serves it)."""
        self.workspace.backend.models.delete(self.name, self.version)

    # -- deployment ---------------------------------------------------------------------------
    @staticmethod
    def deploy(workspace, name: str, models, inference_config=None, deployment_config=None,
               deployment_target=None, overwrite: bool = False, show_output: bool = False):
        """Serve `models` over HTTP as endpoint `name`; returns its Webservice (state
        Transitioning: call wait_for_deployment())."""
        from runyard.serving.arguments import deploy

        return deploy(workspace, name, models, inference_config, deployment_config,
                      deployment_target, overwrite)


def _register(workspace, source: Path, model_name, *, tags, properties, description, model_framework,
              model_framework_version, resource_configuration, datasets, run=None) -> Model:
    """Validate everything, then store the files as the next version."""
    _validate_name(model_name)
    framework = canonical_framework(model_framework)
    properties = _string_dict("properties", properties)
    if datasets:
        properties["runyard.datasets"] = json.dumps(
            [[purpose, getattr(ds, "id", None) or str(ds)] for purpose, ds in datasets])
    record = workspace.backend.models.register(
        model_name, source, framework=framework,
        framework_version=None if model_framework_version is None else str(model_framework_version),
        description=description, tags=_string_dict("tags", tags), properties=properties,
        resources=_resources(resource_configuration),
        run_id=run.id if run is not None else None,
        mlflow_run_id=run._record["mlflow_run_id"] if run is not None else None)
    return Model._from_record(workspace, record)


def register_from_run(run, model_name, model_path=None, tags=None, properties=None,
                      model_framework=None, model_framework_version=None, description=None,
                      datasets=None, resource_configuration=None) -> Model:
    """Run.register_model: `model_path` is a file or folder in the run's artifacts."""
    from runyard.stores import tracking

    _validate_name(model_name)
    canonical_framework(model_framework)
    path = str(model_path or model_name).strip().removeprefix("./").strip("/")
    names = run.get_file_names()
    is_file = path in names
    if not is_file and not any(n.startswith(path + "/") for n in names):
        folders = sorted({n.split("/")[0] for n in names})
        hint = (" Files in ./outputs are uploaded when the run ends: call "
                "run.wait_for_completion() first." if run.get_status() != "Completed" else "")
        raise UserErrorException(
            f"model_path {path!r} is not in the artifacts of run {run.id}. Its artifact folders: "
            f"{', '.join(folders) or 'none'} (see run.get_file_names()).{hint}")
    mlflow_run_id = run._record["mlflow_run_id"]
    local = tracking.artifact_dir(run._ws.tracking_uri, mlflow_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        source = local / path if local is not None else tracking.download(
            run._ws.tracking_uri, mlflow_run_id, path, Path(tmp))
        return _register(run._ws, source, model_name, tags=tags, properties=properties,
                         description=description, model_framework=model_framework,
                         model_framework_version=model_framework_version,
                         resource_configuration=resource_configuration, datasets=datasets, run=run)


def _select_children(source: Path, child_paths, tmp: Path) -> Path:
    if not source.is_dir():
        raise UserErrorException("child_paths needs model_path to be a folder.")
    selected = tmp / source.name
    for child in child_paths:
        origin = source / child
        if not origin.exists():
            raise UserErrorException(f"child_paths: {child!r} is not in {source}.")
        dest = selected / child
        dest.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, dest)
        else:
            shutil.copy2(origin, dest)
    return selected


def _filters(value) -> list[tuple[str, str | None]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), None if v is None else str(v)) for k, v in value.items()]
    if isinstance(value, str):
        return [(value, None)]
    out = []
    for item in value:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, list | tuple) and len(item) == 2:
            out.append((str(item[0]), str(item[1])))
        else:
            raise UserErrorException(
                f"Filters are 'key' or ['key', 'value']. Received: {received(item)}")
    return out


def _matches(values: dict, wanted: list[tuple[str, str | None]]) -> bool:
    return all(k in values and (v is None or values[k] == v) for k, v in wanted)
