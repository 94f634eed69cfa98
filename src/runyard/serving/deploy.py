"""Serving an endpoint on this machine: checking its spec where it runs, starting and stopping
its server (which picks changes up from the record), and what the server needs to run an entry
script: its source folder, interpreter and environment variables."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

from runyard import detached, settings
from runyard.errors import UserErrorException
from runyard.serving import store
from runyard.serving.spec import EndpointSpec, ServedModel

NO_CODE_FRAMEWORKS = ("TensorFlow", "TfKeras")


def apply_update(ws, record: dict, spec: EndpointSpec) -> None:
    """Record the endpoint's new spec as the next generation; its server loads it (restarted
    when the port changes or the server is gone)."""
    keys = record["keys"]
    if spec.auth_enabled and not keys:
        keys = new_keys()
    elif not spec.auth_enabled:
        keys = None
    restart = spec.port is not None and spec.port != record["port"]
    store.update(ws, spec.name, spec=spec.model_dump(), keys=keys,
                 generation=record["generation"] + 1, state=store.TRANSITIONING, error=None)
    if restart or not store.server_alive(record):
        stop_server(record)
        start_server(ws, spec.name)


def new_keys(primary: str | None = None, secondary: str | None = None) -> list[str]:
    return [primary or secrets.token_urlsafe(24), secondary or secrets.token_urlsafe(24)]


def checked_spec(ws, fields: dict) -> EndpointSpec:
    """The spec, checked where the endpoint runs: models as this workspace records them,
    the entry script's snapshot present, and what serving them needs installed."""
    from pydantic import ValidationError

    from runyard.runs import snapshot

    try:
        spec = EndpointSpec(**fields)
    except (ValidationError, TypeError) as exc:
        raise UserErrorException(f"The endpoint's settings are not valid: {exc}") from None
    models = ws.backend.models
    served = [models.get(m.name, m.version) for m in spec.models]
    spec.models = [ServedModel(name=r["name"], version=r["version"], path=models.url(r),
                               framework=r["framework"]) for r in served]
    if spec.snapshot_id is not None and not snapshot.manifest_path(ws.snapshots_dir, spec.snapshot_id).exists():
        raise UserErrorException(f"The entry script's snapshot {spec.snapshot_id} is not in this workspace.")
    _check_server_packages()
    if spec.no_code:
        _check_no_code(spec)
    return spec


def _check_server_packages() -> None:
    if importlib.util.find_spec("uvicorn") is None:
        raise UserErrorException(
            "Serving needs uvicorn in runyard's environment: pip install 'runyard[serving]'.")


def _check_no_code(spec: EndpointSpec) -> None:
    """No-code deployment: TensorFlow SavedModels and Keras files only, and TensorFlow present."""
    from runyard.serving.tf_model import KERAS_SUFFIXES, is_mlflow_tensorflow_model, model_format

    for model in spec.models:
        if model.framework not in NO_CODE_FRAMEWORKS and not is_mlflow_tensorflow_model(Path(model.path)):
            raise UserErrorException(
                f"Model {model.name}:{model.version} has model_framework={model.framework!r}: "
                f"deployment without an inference_config serves {' and '.join(NO_CODE_FRAMEWORKS)} "
                "models. Register it with model_framework=Model.Framework.TENSORFLOW, or deploy "
                "with InferenceConfig(entry_script='score.py', ...).")
        if model_format(Path(model.path)) is None:
            raise UserErrorException(
                f"Model {model.name}:{model.version} ({model.path}) is neither a TensorFlow "
                f"SavedModel folder (saved_model.pb) nor a Keras file ({', '.join(KERAS_SUFFIXES)}). "
                "Deploy it with InferenceConfig(entry_script='score.py', ...).")
    if importlib.util.find_spec("tensorflow") is None:
        raise UserErrorException(
            "No-code deployment needs TensorFlow in runyard's environment: pip install "
            "'runyard[serving,tensorflow]'.")


# -- the server process ------------------------------------------------------------------------
def start_server(ws, name: str) -> None:
    """Start the endpoint's keeper (and through it the server) in its own session: it outlives
    this process, and starts the server again if it dies (serving/keeper.py)."""
    import psutil

    folder = store.endpoint_dir(ws, name)
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env[settings.WORKSPACE_NAME] = ws.name
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = detached.start([sys.executable, "-m", "runyard.serving.keeper", str(ws.folder), name],
                          store.log_path(ws, name), folder, env)
    try:
        started = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        started = None
    store.update(ws, name, only_states={store.TRANSITIONING}, pid=proc.pid, pid_started=started,
                 host=socket.gethostname())


def stop_server(record: dict) -> None:
    """Stop the endpoint's server and everything it started (its process group)."""
    from runyard.execution.processes import stop_groups

    if store.server_alive(record):
        stop_groups([record["pid"]], grace=10.0)


def script_runtime(ws, spec: EndpointSpec, generation: int) -> tuple[Path, str, dict[str, str]]:
    """The entry script's folder (its snapshot, restored once per generation), interpreter and
    environment variables, for the server to start its worker."""
    from runyard.execution.job_env import inherited_environment, job_shim
    from runyard.runs import snapshot

    folder = store.endpoint_dir(ws, spec.name)
    source = folder / f"g{generation}" / "source"
    if not source.exists():
        staging = source.with_name(".source-restoring")
        shutil.rmtree(staging, ignore_errors=True)
        snapshot.restore(ws.snapshots_dir, spec.snapshot_id, staging)
        staging.rename(source)
    env = inherited_environment(os.environ, strict=ws.is_served)  # the worker runs user code
    definition = spec.environment
    interpreter = sys.executable
    if definition is not None:
        env.update(definition.get("environmentVariables", {}))
        if definition["python"]["userManagedDependencies"]:
            interpreter = definition["python"]["interpreterPath"] or sys.executable
        else:
            from runyard.environments import builder
            from runyard.environments.plan import plan

            interpreter = str(builder.materialize(plan(definition), lambda line: print(line, flush=True)))
    env["PYTHONPATH"] = os.pathsep.join([str(job_shim()), str(source)])
    env.update(model_environment(spec, folder / f"g{generation}"))
    return source, interpreter, env


def model_environment(spec: EndpointSpec, folder: Path) -> dict[str, str]:
    """AZUREML_MODEL_DIR as v1 sets it: the model's version folder for one model (so
    AZUREML_MODEL_DIR/<file or folder name> is the model), else a folder of <name>/<version>."""
    if len(spec.models) == 1:
        model_dir = str(Path(spec.models[0].path).parent)
    else:
        root = folder / "azureml-models"
        for model in spec.models:
            link = root / model.name / str(model.version)
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(Path(model.path).parent, target_is_directory=True)
        model_dir = str(root)
    deployed = [{"name": m.name, "version": m.version, "path": m.path} for m in spec.models]
    return {"AZUREML_MODEL_DIR": model_dir, settings.MODEL_DIR: model_dir,
            settings.DEPLOYED_MODELS: json.dumps(deployed)}
