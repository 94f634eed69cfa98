"""ScriptRunConfig and RunConfiguration (SDK v1 signatures), and their validation into the
fields of a RunSpec (runs/spec.py) that the supervisor executes."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

from runyard.errors import UserErrorException, received

DEFAULT_MAX_RUN_DURATION_SECONDS = 2592000  # 30 days, as v1
RESUME_REFERENCE = "MODEL_LOCATION"  # v1's data reference name for resume_from


class RunConfiguration:
    """v1 RunConfiguration: the settings a ScriptRunConfig can carry as `run_config`."""

    def __init__(self, script=None, arguments=None, framework=None, communicator=None,
                 conda_dependencies=None, _history_enabled=None, _path=None, _name=None,
                 command=None) -> None:
        self.script = script
        self.arguments = list(arguments or [])
        self.command = command
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.target = "local"
        self.max_run_duration_seconds = DEFAULT_MAX_RUN_DURATION_SECONDS
        self.node_count = 1
        self.environment = None
        self.environment_variables: dict[str, str] = {}
        self.data: dict = {}  # input name -> DatasetConsumptionConfig
        self.data_references: dict = {}  # name -> DataReferenceConfiguration (or DataReference)
        # GPUs per node (runyard's): None all the node has, as v1; 0 none (runs on GPU
        # machines then never wait for one); n that many
        self.gpu_count: int | None = None
        self.docker: DockerConfiguration | None = None
        if conda_dependencies is not None:
            from runyard.environments.environment import Environment

            self.environment = Environment("runconfig-environment")
            self.environment.python.conda_dependencies = conda_dependencies


class DockerConfiguration:
    """v1 DockerConfiguration (`ScriptRunConfig(docker_runtime_config=...)`,
    `run_config.docker`): recorded; runyard runs jobs without containers, and says so once."""

    def __init__(self, use_docker=None, arguments=None, shm_size=None, shared_volumes=True):
        self.use_docker = use_docker
        self.arguments = list(arguments or [])
        self.shm_size = shm_size
        self.shared_volumes = shared_volumes


AZURE_IMAGES = "mcr.microsoft.com/azureml/"
NO_CONTAINERS = ("runyard runs jobs without containers: {what} is noted and the job runs without one "
                 "(its packages come from the environment's pip/conda lists).")


def _warn_no_containers(what: str) -> None:
    warnings.warn(NO_CONTAINERS.format(what=what), stacklevel=4)


class ScriptRunConfig:
    """v1 ScriptRunConfig: a script (or command), its arguments and where to run it."""

    def __init__(self, source_directory, script=None, arguments=None, run_config=None,
                 _telemetry_values=None, compute_target=None, environment=None,
                 distributed_job_config=None, resume_from=None,
                 max_run_duration_seconds=DEFAULT_MAX_RUN_DURATION_SECONDS, command=None,
                 docker_runtime_config=None):
        self.source_directory = source_directory
        self.script = script
        self.arguments = arguments if arguments is not None else []
        self.command = command
        self.run_config = run_config or RunConfiguration()
        if run_config is not None:
            if any(v is not None for v in (compute_target, environment, distributed_job_config)) or \
                    max_run_duration_seconds != DEFAULT_MAX_RUN_DURATION_SECONDS:
                warnings.warn(
                    "ScriptRunConfig: run_config was given, so compute_target, environment, "
                    "distributed_job_config and max_run_duration_seconds are ignored (as in v1); "
                    "set them on the RunConfiguration instead.", stacklevel=2)
        else:
            self.run_config.target = compute_target if compute_target is not None else "local"
            self.run_config.environment = environment
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        self.distributed_job_config = distributed_job_config if run_config is None else None
        if resume_from is not None:
            self._resume_from(resume_from)
        self.docker_runtime_config = docker_runtime_config

    def _resume_from(self, resume_from) -> None:
        """v1: a DataPath (a checkpoint folder, often run._get_outputs_datapath()) bound as data
        reference MODEL_LOCATION, and `--resume-from <its path>` appended to the arguments."""
        from runyard.data.datapath import DataPath

        if not isinstance(resume_from, DataPath):
            raise UserErrorException(
                "resume_from takes a DataPath: a checkpoint folder such as "
                f"run._get_outputs_datapath(). Received: resume_from={received(resume_from)}")
        reference = resume_from.create_data_reference(RESUME_REFERENCE)
        self.run_config.data_references[RESUME_REFERENCE] = reference.to_config()
        self.arguments = [*self.arguments, "--resume-from", str(reference)]

    @property
    def target(self):
        return self.run_config.target

    def __repr__(self) -> str:
        return (f"ScriptRunConfig(source_directory={self.source_directory!r}, "
                f"script={self.script!r}, arguments={self.arguments!r})")


def coerce_arguments(arguments) -> list[str]:
    """Script arguments as strings; v1 accepts strings and numbers."""
    if isinstance(arguments, (str, bytes)):
        raise UserErrorException(
            "arguments must be a list of strings and numbers, one item per command-line token. "
            f"Received: arguments={received(arguments)}")
    out = []
    for index, value in enumerate(arguments):
        if isinstance(value, bool) or isinstance(value, (str, int, float)):
            out.append(str(value))
        elif isinstance(value, os.PathLike):
            out.append(os.fspath(value))
        else:
            raise UserErrorException(
                f"arguments[{index}] is a {type(value).__name__}; each argument must be a "
                f"string or a number. Received: arguments[{index}]={received(value)}")
    return out


def validate(config: ScriptRunConfig, workspace=None) -> dict:
    """Check a ScriptRunConfig before anything is created; returns the RunSpec fields.
    `workspace` finds the datastores that data references name."""
    if not isinstance(config, ScriptRunConfig):
        raise UserErrorException(
            "Experiment.submit takes a ScriptRunConfig. "
            f"Received: config={received(config)} ({type(config).__name__})")
    if config.source_directory is None:
        raise UserErrorException("ScriptRunConfig needs source_directory (the folder with the script).")
    source = Path(config.source_directory).expanduser()
    if not source.is_dir():
        raise UserErrorException(
            f"source_directory {str(source)!r} does not exist or is not a folder "
            f"(resolved to {source.resolve()}). Pass the folder that holds the script.")
    rc = config.run_config
    script, command = config.script or rc.script, config.command or rc.command
    if script and command:
        raise UserErrorException("ScriptRunConfig takes either script (with arguments) or "
                                 "command, not both. Received both.")
    if not script and not command:
        raise UserErrorException("ScriptRunConfig needs script='train.py' (relative to "
                                 "source_directory) or command=[...].")
    fields: dict = {"source_directory": str(source.resolve())}
    if script:
        script_path = Path(script)
        if script_path.is_absolute():
            try:
                script_path = script_path.resolve().relative_to(source.resolve())
            except ValueError:
                raise UserErrorException(
                    f"script {script!r} is not inside source_directory {str(source)!r}; only the "
                    "source directory is copied to the compute.") from None
        if not (source / script_path).is_file():
            raise UserErrorException(
                f"script {str(script_path)!r} was not found in source_directory "
                f"{str(source.resolve())!r}. The script path is relative to source_directory.")
        fields["script"] = script_path.as_posix()
        arguments, fields["inputs"] = _inputs(config.arguments or rc.arguments, rc.data, rc.data_references, workspace)
        fields["arguments"] = coerce_arguments(arguments)
    else:
        tokens = command.split() if isinstance(command, str) else command
        tokens, fields["inputs"] = _inputs(tokens, rc.data, rc.data_references, workspace)
        fields["command"] = coerce_arguments(tokens)
        fields["arguments"] = []
    fields["environment"] = environment_definition(rc.environment)
    docker = config.docker_runtime_config or rc.docker
    if docker is not None and not isinstance(docker, DockerConfiguration):
        raise UserErrorException(f"docker_runtime_config takes a DockerConfiguration. Received: {received(docker)}")
    if docker is not None and docker.use_docker and not (rc.environment and rc.environment.docker.enabled):
        _warn_no_containers("DockerConfiguration(use_docker=True)")
    fields["distribution"] = distribution(config.distributed_job_config)
    duration = rc.max_run_duration_seconds
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0:
        raise UserErrorException(
            "max_run_duration_seconds must be a positive number of seconds. "
            f"Received: max_run_duration_seconds={received(duration)}")
    fields["max_run_duration_seconds"] = float(duration)
    fields["environment_variables"] = {str(k): str(v) for k, v in rc.environment_variables.items()}
    gpu_count = rc.gpu_count
    if gpu_count is not None and (isinstance(gpu_count, bool) or not isinstance(gpu_count, int) or gpu_count < 0):
        raise UserErrorException("run_config.gpu_count is a number of GPUs (0 for none) or None for all "
                                 f"the node has. Received: gpu_count={received(gpu_count)}")
    fields["gpu_count"] = gpu_count
    return fields


def _inputs(arguments, data: dict, data_references: dict, workspace) -> tuple[list, list[dict]]:
    """Datasets among the arguments (and in RunConfiguration.data), and data references (in
    RunConfiguration.data_references, named in the arguments), pinned as run inputs."""
    from runyard.data.data_reference import ARGUMENT_PREFIX, DataReference
    from runyard.data.dataset_consumption_config import DatasetConsumptionConfig

    if isinstance(arguments, (str, bytes)) or not data and not data_references and not any(
            isinstance(a, (DatasetConsumptionConfig, DataReference))
            or isinstance(a, str) and ARGUMENT_PREFIX in a for a in arguments):
        return arguments, []
    from runyard.data.consumption import collect, collect_references

    arguments, data = collect_references(list(arguments), data, data_references, workspace)
    return collect(arguments, data)


def environment_definition(env) -> dict | None:
    """Check an Environment for this compute and return its definition (None: run in the
    current interpreter)."""
    if env is None:
        return None
    from runyard.environments.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE, Environment

    if isinstance(env, str):
        raise UserErrorException(
            "environment takes an Environment object; for a registered or curated one use "
            f"Environment.get(ws, {env!r}). Received: environment={received(env)}")
    if not isinstance(env, Environment):
        raise UserErrorException(f"environment must be an Environment. Received: environment={received(env)}")
    image = env.docker.base_image
    custom_image = image not in (None, DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE) or env.docker.base_dockerfile
    # Azure's own base images hold the OS, MPI and CUDA, which runyard provides itself; another
    # image or a Dockerfile may hold anything, which a run without it would miss.
    own_image = bool(env.docker.base_dockerfile) or (custom_image and not str(image).startswith(AZURE_IMAGES))
    if env.docker.enabled and own_image:
        raise UserErrorException(
            f"Environment {env.name!r} asks to run in a container built from "
            f"{'its Dockerfile' if env.docker.base_dockerfile else repr(env.docker.base_image)}, and runyard "
            "runs jobs without containers. Set env.docker.enabled = False to run with the environment's "
            "pip/conda packages alone (in a cached virtual environment).")
    if env.docker.enabled:
        _warn_no_containers(f"Environment {env.name!r} docker.enabled=True")
    elif custom_image:
        warnings.warn(
            f"Environment {env.name!r}: the Docker base image is recorded but not used; this "
            "compute runs no containers (packages come from the environment's pip/conda lists).",
            stacklevel=3)
    definition = env.definition()
    curated = env._curated_definition
    if curated is not None and definition != curated:
        raise UserErrorException(
            f"The curated environment {env.name!r} was modified. Clone it under a new name "
            f"first: env = env.clone('my-{env.name}'), then change it.")
    return definition


def distribution(config) -> dict | None:
    """Check a distributed_job_config; returns its plan settings (compute/fit.py checks that
    the chosen compute target can run it)."""
    if config is None:
        return None
    from runyard.distributed.configs import MpiConfiguration, TensorflowConfiguration

    if not isinstance(config, (TensorflowConfiguration, MpiConfiguration)):
        raise UserErrorException(
            "distributed_job_config takes a TensorflowConfiguration or MpiConfiguration. "
            f"Received: distributed_job_config={received(config)}")
    if isinstance(config, MpiConfiguration) and not shutil.which("mpirun"):
        raise UserErrorException(
            "MPI jobs need OpenMPI's mpirun, which is not on this machine's PATH. Install it "
            "(Debian/Ubuntu: apt-get install openmpi-bin).")
    return config.as_dict()
