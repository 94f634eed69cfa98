"""Making a job runnable where its processes run: the environment's interpreter, the dataset
inputs, the command line and the process environment. The local supervisor does this on its
own machine; on a Ray target every node's agent does it for its own processes."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runyard import settings
from runyard.execution.job_env import job_shim
from runyard.settings import SERVER_URL

if TYPE_CHECKING:  # a node agent passes the spec's fields without pydantic
    from runyard.runs.spec import RunSpec


@dataclass
class NodeJob:
    """What a job needs on one machine, once prepared there."""

    interpreter: str
    env_bin: Path | None = None  # the built environment's bin folder
    # runyard's package put on the job's path (an interpreter that need not have it installed)
    runyard_on_path: bool = False
    input_paths: dict[str, str] = field(default_factory=dict)  # input name -> local path


def prepare_environment(spec: RunSpec, progress, default_interpreter: str | None = None) -> NodeJob:
    """Build (or reuse) the job's environment; without one, the submitting interpreter (or,
    on a node where that path does not exist, the node's own)."""
    interpreter = spec.interpreter
    if default_interpreter and not Path(interpreter).exists():
        interpreter = default_interpreter
    definition = spec.environment
    if definition is None:
        return NodeJob(interpreter)
    if definition["python"]["userManagedDependencies"]:
        chosen = definition["python"]["interpreterPath"] or interpreter
        progress(f"Environment {definition['name']!r}: user-managed, using {chosen}")
        return NodeJob(chosen, runyard_on_path=chosen != interpreter)
    from runyard.environments import builder
    from runyard.environments.plan import plan as build_plan

    started = time.monotonic()
    python = builder.materialize(build_plan(definition), progress)
    progress(f"Preparing took {time.monotonic() - started:.2f} s")
    return NodeJob(str(python), python.parent, runyard_on_path=True)


def prepare_inputs(spec: RunSpec, node: NodeJob, workspace, workdir: Path, root: Path,
                   used_log: Path, progress) -> None:
    """Datasets: checked against their pins and made available before the script starts."""
    from runyard.data import consumption

    started = time.monotonic()
    node.input_paths, used = consumption.prepare(spec.inputs, workspace, workdir, root, progress)
    used_log.write_text(json.dumps(used, indent=1))
    progress(f"Inputs ready in {time.monotonic() - started:.2f} s")


def remove_inputs(spec: RunSpec, workdir: Path, root: Path) -> None:
    from runyard.data import consumption
    from runyard.data.views import remove_view

    for item in spec.inputs:
        remove_view(consumption.view_root(item, workdir, root))


def argv(spec: RunSpec, node: NodeJob) -> list[str]:
    command = list(spec.command) if spec.command else [node.interpreter, spec.script, *spec.arguments]
    if command and command[0] in ("python", "python3"):  # the environment's Python, as on v1's images
        command[0] = node.interpreter
    if node.input_paths:
        from runyard.data.consumption import substitute

        command = substitute(command, node.input_paths)
    return command


def run_variables(ws, record: dict, spec: RunSpec) -> dict[str, str]:
    """The job's variables that do not depend on the machine it runs on."""
    variables = dict(spec.environment.get("environmentVariables", {})) if spec.environment else {}
    variables.update(spec.environment_variables)
    variables.update({
        settings.RUN_ID: spec.run_id,
        "AZUREML_RUN_ID": spec.run_id,
        settings.WORKSPACE_DIR: str(ws.folder),
        settings.WORKSPACE_NAME: ws.name,
        "MLFLOW_TRACKING_URI": ws.job_tracking_uri,
        "MLFLOW_RUN_ID": record["mlflow_run_id"],
        "MLFLOW_EXPERIMENT_ID": record["mlflow_experiment_id"],
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        settings.EXPERIMENT: record["experiment"],
    })
    if ws.is_served:  # jobs call its server, with their run's own token (never the workspace's)
        from runyard.server import THROUGH_THE_PROXY
        from runyard.server.auth import TOKEN_ENV, run_token

        variables.update(THROUGH_THE_PROXY)
        variables[SERVER_URL] = ws.job_tracking_uri
        if os.environ.get(TOKEN_ENV):
            token = run_token(os.environ[TOKEN_ENV], spec.run_id)
            variables["MLFLOW_TRACKING_TOKEN"] = variables[settings.WORKSPACE_TOKEN] = token
    return variables


def process_environment(base: dict[str, str], variables: dict[str, str], node: NodeJob, *,
                        metrics_dir: Path, tmp: Path) -> dict[str, str]:
    """The environment of the job's processes on this machine."""
    env = {**base, **variables, settings.METRICS_DIR: str(metrics_dir), "TMPDIR": str(tmp)}
    # Keras writes keras.json (and dataset caches) under KERAS_HOME: keep it in the run.
    if "KERAS_HOME" not in variables:
        env.setdefault("KERAS_HOME", str(tmp / "keras"))
    if node.input_paths:
        from runyard.data.consumption import job_environment

        env.update(job_environment(node.input_paths))
    if node.env_bin is not None:  # a built environment: its bin first on PATH
        env["VIRTUAL_ENV"] = str(node.env_bin.parent)
        env["PATH"] = f"{node.env_bin}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONHOME", None)
    if node.runyard_on_path:
        # runyard's own package importable without installing it (a job needs only the
        # standard library, from Python 3.7 on).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(job_shim()), env.get("PYTHONPATH")) if p)
    return env
