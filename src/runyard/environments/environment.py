"""Environment (SDK v1): the Python packages and settings a job runs with."""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path

from runyard.environments import azure_curated, curated
from runyard.environments.conda import CondaDependencies
from runyard.errors import UserErrorException, received

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04"
# Names v1 reserves for curated environments, and ours.
RESERVED_PREFIXES = ("runyard-", "azureml", "microsoft")


def current_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


class PythonSection:
    def __init__(self):
        self.user_managed_dependencies = False
        self.interpreter_path: str | None = None
        self.conda_dependencies = CondaDependencies.create(python_version=current_python_version())
        self.conda_dependencies_file: str | None = None
        self.base_conda_environment: str | None = None


class DockerSection:
    def __init__(self):
        self.enabled = False
        self.base_image: str | None = DEFAULT_CPU_IMAGE
        self.base_dockerfile: str | None = None
        self.build_context = None
        self.base_image_registry = None
        self.platform = None
        self.shm_size = "2g"
        self.arguments: list[str] = []


class Environment:
    """Example:
        env = Environment.from_conda_specification("tf", "conda_dependencies.yml")
        env.register(ws)
        src = ScriptRunConfig(..., environment=Environment.get(ws, "tf"))
    """

    def __init__(self, name: str, **kwargs):
        if not isinstance(name, str) or not name.strip():
            raise UserErrorException(f"An environment needs a name. Received: name={received(name)}")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version = None
        self._curated_definition: dict | None = None  # set on curated environments

    # -- constructors ------------------------------------------------------------------------
    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(conda_dependencies_file_path=file_path)
        return env

    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None) -> Environment:
        path = Path(file_path)
        if not path.is_file():
            raise UserErrorException(f"No pip requirements file at {str(path)!r}.")
        env = Environment(name)
        cd = CondaDependencies.create(python_version=current_python_version())
        for line in path.read_text().splitlines():
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "-c ", "--requirement", "--constraint")):
                raise UserErrorException(
                    f"{path}: nested requirement files ({line!r}) are not followed; list the "
                    "packages in one file.")
            if line.startswith("-"):
                cd.set_pip_option(line)
            else:
                cd.add_pip_package(line)
        if pip_version:
            cd.add_pip_package(f"pip=={pip_version}")
        env.python.conda_dependencies = cd
        return env

    # -- workspace registry --------------------------------------------------------------------
    def register(self, workspace) -> Environment:
        """Register a new version (or return the latest if it is identical)."""
        if self.name.lower().startswith(RESERVED_PREFIXES):
            raise UserErrorException(
                f"Environment names starting with {', '.join(RESERVED_PREFIXES)} are reserved for "
                f"curated environments. Clone it under your own name first: "
                f"env.clone('my-{self.name.lower()}'). Received: name={self.name!r}")
        self.version = workspace.backend.environments.register(self.name, self.definition())
        return self

    @staticmethod
    def get(workspace, name: str, version: str | int | None = None, label=None) -> Environment:
        if curated.is_curated(name):
            return Environment._curated(name, version)
        if azure_curated.is_azure_name(name):
            return Environment._azure_curated(name)  # any version: Azure's were image builds
        definition, found_version = workspace.backend.environments.get(name, version)
        env = Environment.from_definition(definition)
        env.version = str(found_version)
        return env

    @staticmethod
    def _curated(name: str, version=None) -> Environment:
        spec = curated.spec(name, version)
        return Environment._curated_from(name, spec["python"], spec["pip"])

    @staticmethod
    def _azure_curated(name: str) -> Environment:
        """Azure's curated names: the nearest environment that installs here, said once."""
        substitute = azure_curated.resolve(name)
        warnings.warn(substitute.note, UserWarning, stacklevel=3)
        return Environment._curated_from(name, substitute.python, substitute.pip)

    @staticmethod
    def _curated_from(name: str, python: str, pip: list[str]) -> Environment:
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=pip, python_version=python)
        env.version = curated.VERSION
        env._curated_definition = env.definition()
        return env

    @staticmethod
    def list(workspace) -> dict[str, Environment]:
        envs = {name: Environment._curated(name) for name in curated.names()}
        for name, (definition, version) in workspace.backend.environments.latest_all().items():
            env = Environment.from_definition(definition)
            env.version = str(version)
            envs[name] = env
        return envs

    def clone(self, new_name: str) -> Environment:
        env = Environment.from_definition(self.definition())
        env.name = new_name
        env.version = None
        return env

    # -- files -------------------------------------------------------------------------------
    def save_to_directory(self, path: str, overwrite: bool = False) -> None:
        folder = Path(path)
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            raise UserErrorException(f"{folder} is not empty; pass overwrite=True to replace it.")
        folder.mkdir(parents=True, exist_ok=True)
        definition = self.definition()
        definition["python"].pop("condaDependencies")
        (folder / "runyard_environment.json").write_text(json.dumps(definition, indent=2) + "\n")
        self.python.conda_dependencies.save(str(folder / "conda_dependencies.yml"))

    @staticmethod
    def load_from_directory(path: str) -> Environment:
        folder = Path(path)
        spec_file = next((folder / n for n in ("runyard_environment.json", "azureml_environment.json")
                          if (folder / n).is_file()), None)
        if spec_file is None:
            raise UserErrorException(f"{folder} holds no runyard_environment.json; save one with "
                                     "env.save_to_directory(path).")
        definition = json.loads(spec_file.read_text())
        conda_file = folder / "conda_dependencies.yml"
        if conda_file.is_file():
            definition.setdefault("python", {})["condaDependencies"] = \
                CondaDependencies(conda_dependencies_file_path=str(conda_file)).as_dict()
        return Environment.from_definition(definition)

    # -- definition (what is hashed, stored with runs and registered) -------------------------
    def definition(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "python": {
                "userManagedDependencies": bool(self.python.user_managed_dependencies),
                "interpreterPath": self.python.interpreter_path,
                "condaDependencies": self.python.conda_dependencies.as_dict(),
            },
            "docker": {"enabled": bool(self.docker.enabled), "baseImage": self.docker.base_image,
                       "baseDockerfile": self.docker.base_dockerfile},
            "environmentVariables": {str(k): str(v) for k, v in self.environment_variables.items()},
        }

    @staticmethod
    def from_definition(definition: dict) -> Environment:
        definition = copy.deepcopy(definition)
        env = Environment(definition["name"])
        env.version = definition.get("version")
        python = definition.get("python", {})
        env.python.user_managed_dependencies = python.get("userManagedDependencies", False)
        env.python.interpreter_path = python.get("interpreterPath")
        if python.get("condaDependencies"):
            env.python.conda_dependencies = CondaDependencies(
                _underlying_structure=python["condaDependencies"])
        docker = definition.get("docker", {})
        env.docker.enabled = docker.get("enabled", False)
        env.docker.base_image = docker.get("baseImage", DEFAULT_CPU_IMAGE)
        env.docker.base_dockerfile = docker.get("baseDockerfile")
        env.environment_variables = dict(definition.get("environmentVariables", {}))
        return env

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version!r})"
