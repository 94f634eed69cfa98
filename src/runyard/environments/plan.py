"""From an environment definition to a build plan: interpreter, PyPI requirements, install
settings, and the content hash that names the cached environment."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from runyard import gpus
from runyard.environments import interpreters, mapping
from runyard.environments.conda import CondaDependencies
from runyard.environments.environment import current_python_version
from runyard.errors import UserErrorException

RECIPE = 1  # bump when the way environments are built changes: every hash changes with it
# Installed without their dependencies: tf-keras would otherwise pull the full `tensorflow`
# package on top of `tensorflow-cpu`.
NO_DEPS = {"tf-keras"}
# Built from source against packages of the same environment (Horovod's build imports
# TensorFlow): installed last, without build isolation.
NO_BUILD_ISOLATION = {"horovod"}
# Build settings that change what such a package's build produces.
BUILD_ENV_PREFIXES = ("PIP_", "UV_", "HOROVOD_")


MLFLOW_MIN_PYTHON = (3, 10)  # the oldest Python runyard's MLflow (3.x) installs on


class EnvironmentBuildError(UserErrorException):
    pass


@dataclass
class BuildPlan:
    name: str
    python: str  # interpreter executable the venv is made from
    python_version: str
    requirements: list[str]
    no_deps: list[str]
    no_isolation: list[str]
    pip_options: list[str]
    install_env: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        key = {"recipe": RECIPE, "python": self.python_version, "requirements": sorted(self.requirements),
               "no_deps": sorted(self.no_deps), "no_isolation": sorted(self.no_isolation),
               "options": self.pip_options, "env": self.install_env}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]



def plan(definition: dict) -> BuildPlan:
    """Raises EnvironmentBuildError (a conda package with no PyPI equivalent) or
    InterpreterNotFound (no such Python here), each saying what to change."""
    cd = CondaDependencies(_underlying_structure=definition["python"]["condaDependencies"])
    notes: list[str] = []
    requirements: list[str] = []
    gpu = gpus.present()
    for spec in cd.conda_packages:
        try:
            mapped = mapping.conda_to_pip(spec)
        except mapping.CondaMappingError as exc:
            raise EnvironmentBuildError(f"Environment {definition['name']!r}: {exc}") from None
        if gpu and mapped and mapping.split_conda_spec(spec)[0] == "tensorflow":
            mapped = "tensorflow-gpu" + mapped[len("tensorflow-cpu"):]  # conda's TensorFlow, on a GPU
        if mapped:
            requirements.append(mapped)
            notes.append(f"conda package {spec} -> PyPI {mapped}")
    python, version = interpreters.find(cd.get_python_version() or current_python_version())
    for package in cd.pip_packages:
        if mapping.requirement_name(package) == "azureml-mlflow":
            replacement = mlflow_client(version)
            requirements += replacement
            notes.append(f"{package} -> {', '.join(replacement)}: MLflow's client, for the "
                         "script's mlflow calls into this run")
            if len(replacement) == 1:
                notes.append(f"warning: Python {version} cannot install runyard's MLflow; the "
                             "script's mlflow calls reach a `runyard server` workspace only")
            continue
        if mapping.is_azureml_package(package):
            notes.append(f"skipped {package}: runyard provides the Azure ML API in every job")
            continue
        requirements.append(package)
    for index, requirement in enumerate(requirements):
        requirements[index], warning = mapping.tensorflow_for_device(requirement, gpu)
        if warning:
            notes.append(f"warning: {warning}")
    install_env = {k: v for k, v in definition.get("environmentVariables", {}).items()
                   if k.startswith(BUILD_ENV_PREFIXES)}
    no_deps = [r for r in requirements if mapping.requirement_name(r) in NO_DEPS]
    no_isolation = [r for r in requirements if mapping.requirement_name(r) in NO_BUILD_ISOLATION]
    regular = [r for r in requirements if r not in no_deps and r not in no_isolation]
    if no_isolation:
        regular += ["setuptools", "wheel"]  # what an unisolated build needs in the environment
        install_env = {**horovod_defaults(regular), **install_env}
    return BuildPlan(name=definition["name"], python=python, python_version=version,
                     requirements=regular, no_deps=no_deps, no_isolation=no_isolation,
                     pip_options=list(cd.pip_options), install_env=install_env, notes=notes)


def mlflow_client(python_version: str) -> list[str]:
    """What replaces azureml-mlflow: MLflow's client at runyard's own MLflow version (a job's
    mlflow calls write the workspace's run history, whose schema is that version's), with what
    its SQL store needs; on a Python that version does not support, the newest client there
    (it reaches a `runyard server` workspace; the local history needs the same version)."""
    from importlib.metadata import version

    mlflow = version("mlflow")
    if tuple(int(p) for p in python_version.split(".")[:2]) >= MLFLOW_MIN_PYTHON:
        return [f"mlflow-skinny=={mlflow}", "sqlalchemy", "alembic"]
    return ["mlflow-skinny"]


def horovod_defaults(requirements: list[str]) -> dict[str, str]:
    """Horovod's build: TensorFlow ops when TensorFlow is in the environment, MPI, no
    PyTorch/MXNet/Gloo (runyard launches Horovod jobs with mpirun). Overridable through the
    environment's HOROVOD_* variables."""
    names = {mapping.requirement_name(r) for r in requirements}
    tensorflow = bool(names & {"tensorflow", "tensorflow-cpu"})
    return {"HOROVOD_WITH_TENSORFLOW" if tensorflow else "HOROVOD_WITHOUT_TENSORFLOW": "1",
            "HOROVOD_WITH_MPI": "1", "HOROVOD_WITHOUT_PYTORCH": "1",
            "HOROVOD_WITHOUT_MXNET": "1", "HOROVOD_WITHOUT_GLOO": "1"}

