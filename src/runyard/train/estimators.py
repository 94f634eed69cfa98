"""The deprecated 2019 estimators (v1 azureml.train.estimator.Estimator and
azureml.train.dnn.TensorFlow), mapped onto ScriptRunConfig as v1 itself does."""

from __future__ import annotations

import warnings

from runyard.distributed.configs import MpiConfiguration, TensorflowConfiguration
from runyard.errors import UserErrorException, received

DEFAULT_TENSORFLOW = "2.21"
_IGNORED = ("vm_size", "vm_priority", "custom_docker_image", "custom_docker_base_image",
            "image_registry_details", "source_directory_data_store", "shm_size",
            "use_docker")


class Mpi:
    """v1 azureml.train.dnn.Mpi: distributed_training=Mpi(process_count_per_node=2)."""

    def __init__(self, process_count_per_node: int = 1):
        self.process_count_per_node = process_count_per_node


class ParameterServer:
    """v1 azureml.train.dnn.ParameterServer."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1):
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count


class Estimator:
    """v1 azureml.train.estimator.Estimator (deprecated in v1 1.19): a script, its parameters
    and packages. Submitting it submits the equivalent ScriptRunConfig."""

    _framework = "Estimator"

    def __init__(self, source_directory, *, compute_target=None, entry_script=None,
                 script_params=None, node_count=1, process_count_per_node=1,
                 distributed_backend=None, distributed_training=None, use_gpu=False,
                 user_managed=False, conda_packages=None, pip_packages=None,
                 conda_dependencies_file=None, pip_requirements_file=None,
                 environment_variables=None, environment_definition=None,
                 max_run_duration_seconds=None, inputs=None, **kwargs):
        warnings.warn(
            f"'{self._framework}' estimator is deprecated. Please use 'ScriptRunConfig' from "
            "'runyard.core.script_run_config' with your own defined environment or a curated "
            "environment.", DeprecationWarning, stacklevel=2)
        ignored = sorted(k for k in kwargs if k in _IGNORED and kwargs[k] not in (None, False))
        if ignored:
            warnings.warn(f"{self._framework}: {', '.join(ignored)} only apply in Azure and are "
                          "ignored here.", UserWarning, stacklevel=2)
        unknown = sorted(set(kwargs) - set(_IGNORED) - {"worker_count", "parameter_server_count",
                                                         "framework_version"})
        if unknown:
            raise UserErrorException(f"{self._framework} got unexpected arguments: {', '.join(unknown)}.")
        self.use_gpu = bool(use_gpu)
        if use_gpu:
            from runyard import gpus

            if not gpus.available():
                warnings.warn(f"{self._framework}(use_gpu=True): this machine has no GPU; the job "
                              "runs on the CPU.", UserWarning, stacklevel=2)
        if entry_script is None:
            raise UserErrorException(f"{self._framework} needs entry_script='train.py'.")
        self.source_directory = source_directory
        self.compute_target = compute_target
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.inputs = list(inputs or [])  # DatasetConsumptionConfigs not among script_params
        self.conda_packages = list(conda_packages or [])
        self.pip_packages = list(pip_packages or [])
        self.conda_dependencies_file = conda_dependencies_file
        self.pip_requirements_file = pip_requirements_file
        self.user_managed = user_managed
        self.environment_definition = environment_definition
        self.environment_variables = dict(environment_variables or {})
        self.max_run_duration_seconds = max_run_duration_seconds
        self.distributed = self._distribution(
            node_count, process_count_per_node, distributed_backend, distributed_training,
            kwargs.get("worker_count", 1), kwargs.get("parameter_server_count", 1))

    # -- mapping -------------------------------------------------------------------------------
    def _distribution(self, node_count, process_count_per_node, backend, training,
                      worker_count, ps_count):
        if isinstance(training, Mpi):
            backend, process_count_per_node = "mpi", training.process_count_per_node
        elif isinstance(training, ParameterServer):
            backend, worker_count, ps_count = "ps", training.worker_count, training.parameter_server_count
        elif training is not None:
            raise UserErrorException(
                f"distributed_training takes Mpi(...) or ParameterServer(...). Received: {received(training)}")
        if backend is None:
            if node_count > 1 or process_count_per_node > 1 or (self._framework == "TensorFlow" and worker_count > 1):
                raise UserErrorException(
                    "Distributed training requires a backend: set distributed_backend='mpi' "
                    "(Horovod/MPI) or distributed_backend='ps' (TensorFlow parameter servers). "
                    f"Received: node_count={node_count}, process_count_per_node="
                    f"{process_count_per_node}, worker_count={worker_count}, distributed_backend=None")
            return None
        if backend == "mpi":
            return MpiConfiguration(process_count_per_node=process_count_per_node, node_count=node_count)
        if backend == "ps":
            if node_count > 1:
                raise UserErrorException(
                    f"node_count={node_count} needs a cluster compute target; the local target "
                    "runs every process on this machine (node_count=1).")
            return TensorflowConfiguration(worker_count=worker_count, parameter_server_count=ps_count)
        raise UserErrorException(f"distributed_backend is 'mpi' or 'ps'. Received: distributed_backend={backend!r}")

    def _base_pip_packages(self) -> list[str]:
        return []

    def _python_version(self) -> str | None:
        """The Python the base packages need (None: the default)."""
        return None

    def _environment(self):
        from runyard.environments.conda import CondaDependencies
        from runyard.environments.environment import Environment

        if self.environment_definition is not None:
            return self.environment_definition
        env = Environment(f"{self._framework.lower()}-estimator")
        if self.user_managed:
            env.python.user_managed_dependencies = True
            return env
        if self.conda_dependencies_file:
            cd = CondaDependencies(conda_dependencies_file_path=self.conda_dependencies_file)
        else:
            cd = CondaDependencies.create()
            if self._python_version():
                cd.set_python_version(self._python_version())
        for package in self._base_pip_packages() + self.pip_packages:
            cd.add_pip_package(package)
        if self.pip_requirements_file:
            for package in Environment.from_pip_requirements("r", self.pip_requirements_file) \
                    .python.conda_dependencies.pip_packages:
                cd.add_pip_package(package)
        for package in self.conda_packages:
            cd.add_conda_package(package)
        env.python.conda_dependencies = cd
        env.environment_variables = dict(self.environment_variables)
        return env

    def to_script_run_config(self):
        from runyard.runs.config import DEFAULT_MAX_RUN_DURATION_SECONDS, ScriptRunConfig

        arguments = []
        for name, value in self.script_params.items():
            arguments.append(name)
            if value is not None and value != "":
                arguments.append(value)
        config = ScriptRunConfig(
            source_directory=self.source_directory, script=self.entry_script, arguments=arguments,
            compute_target=self.compute_target, environment=self._environment(),
            distributed_job_config=self.distributed,
            max_run_duration_seconds=self.max_run_duration_seconds or DEFAULT_MAX_RUN_DURATION_SECONDS)
        for index, item in enumerate(self.inputs, start=1):
            name = getattr(item, "name", None) or f"estimator_input_{index}"
            config.run_config.data[name] = item
        # v1 ran use_gpu=True jobs with the node's GPUs and others on a CPU image
        config.run_config.gpu_count = None if self.use_gpu else 0
        return config


class TensorFlow(Estimator):
    """v1 azureml.train.dnn.TensorFlow (deprecated): an Estimator whose environment has
    TensorFlow (CPU) `framework_version` (default: the curated TensorFlow environment's)."""

    _framework = "TensorFlow"

    def __init__(self, source_directory, *, framework_version=None, worker_count=1,
                 parameter_server_count=1, **kwargs):
        self.framework_version = framework_version or DEFAULT_TENSORFLOW
        super().__init__(source_directory, worker_count=worker_count,
                         parameter_server_count=parameter_server_count, **kwargs)

    def _release(self):
        """framework_version's release on the Python that runs it (this one when it can)."""
        from runyard.environments import tensorflow_releases
        from runyard.environments.environment import current_python_version

        choice = tensorflow_releases.choose(str(self.framework_version),
                                            prefer_pythons=[current_python_version()])
        if choice is None:
            raise UserErrorException(
                "framework_version is a TensorFlow version like '2.21' or '1.13'. "
                f"Received: framework_version={received(self.framework_version)}")
        return choice

    def _base_pip_packages(self) -> list[str]:
        from runyard.environments import curated

        if self.framework_version == DEFAULT_TENSORFLOW:
            name = f"runyard-tensorflow-{DEFAULT_TENSORFLOW}-cpu"
            return list(curated.spec(name)["pip"])
        return list(self._release().requirements)

    def _python_version(self) -> str | None:
        return None if self.framework_version == DEFAULT_TENSORFLOW else self._release().python
