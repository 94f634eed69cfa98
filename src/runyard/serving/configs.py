"""v1 InferenceConfig and the deployment configurations of LocalWebservice / AciWebservice."""

from __future__ import annotations

import warnings
from pathlib import Path

from runyard.errors import UserErrorException, received


class InferenceConfig:
    """How to serve models with your own code: `entry_script` defines init() and run(raw_data).

    Example:
        InferenceConfig(entry_script="score.py", source_directory="./serve", environment=env)
    """

    def __init__(self, entry_script: str, runtime: str | None = None, conda_file: str | None = None,
                 extra_docker_file_steps=None, source_directory: str | None = None,
                 enable_gpu: bool | None = None, description: str | None = None,
                 base_image: str | None = None, base_image_registry=None,
                 cuda_version: str | None = None, environment=None):
        if environment is not None and (runtime or conda_file or base_image):
            raise UserErrorException(
                "InferenceConfig: give either environment or the legacy runtime/conda_file/"
                "base_image parameters, not both.")
        if runtime is not None and str(runtime).lower() != "python":
            raise UserErrorException(f"InferenceConfig runtime must be 'python'. Received: runtime={received(runtime)}")
        if conda_file is not None:
            from runyard.environments.environment import Environment

            environment = Environment.from_conda_specification("inference-environment", conda_file)
        if enable_gpu:
            warnings.warn("enable_gpu: endpoints run on this machine's CPU and GPUs as they are.",
                          stacklevel=2)
        self.source_directory = str(Path(source_directory or ".").expanduser().resolve())
        if not isinstance(entry_script, str) or not (Path(self.source_directory) / entry_script).is_file():
            raise UserErrorException(
                f"entry_script {entry_script!r} is not a file in source_directory "
                f"{self.source_directory}. It is a path relative to source_directory.")
        self.entry_script = entry_script
        self.environment = environment
        self.description = description
        self.runtime = runtime
        self.conda_file = conda_file
        self.base_image = base_image
        self.enable_gpu = enable_gpu

    def __repr__(self) -> str:
        return (f"InferenceConfig(entry_script={self.entry_script!r}, "
                f"source_directory={self.source_directory!r}, environment={self.environment!r})")


class DeploymentConfiguration:
    """Where and how an endpoint runs. Built by LocalWebservice.deploy_configuration() or
    AciWebservice.deploy_configuration(); both serve on this machine's loopback interface."""

    def __init__(self, compute_type: str, *, port=None, cpu_cores=None, memory_gb=None,
                 auth_enabled=False, primary_key=None, secondary_key=None, tags=None,
                 description=None, max_batch_size: int = 64, batch_timeout_micros: int = 0):
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 1 <= port <= 65535):
            raise UserErrorException(f"port must be a number from 1 to 65535. Received: port={received(port)}")
        for label, value in (("cpu_cores", cpu_cores), ("memory_gb", memory_gb)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or value <= 0):
                raise UserErrorException(f"{label} must be a number > 0. Received: {label}={received(value)}")
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise UserErrorException(
                f"max_batch_size must be a whole number >= 1. Received: max_batch_size={received(max_batch_size)}")
        if (isinstance(batch_timeout_micros, bool) or not isinstance(batch_timeout_micros, int)
                or batch_timeout_micros < 0):
            raise UserErrorException(
                "batch_timeout_micros must be a whole number >= 0. "
                f"Received: batch_timeout_micros={received(batch_timeout_micros)}")
        self.compute_type = compute_type
        self.port = port
        self.cpu_cores = cpu_cores
        self.memory_gb = memory_gb
        self.auth_enabled = bool(auth_enabled)
        self.primary_key = primary_key
        self.secondary_key = secondary_key
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.description = description
        self.max_batch_size = max_batch_size
        self.batch_timeout_micros = batch_timeout_micros

    def __repr__(self) -> str:
        return (f"DeploymentConfiguration(compute_type={self.compute_type!r}, port={self.port}, "
                f"auth_enabled={self.auth_enabled}, max_batch_size={self.max_batch_size})")


def local_deploy_configuration(port: int | None = None, *, max_batch_size: int = 64,
                               batch_timeout_micros: int = 0) -> DeploymentConfiguration:
    return DeploymentConfiguration("Local", port=port, max_batch_size=max_batch_size,
                                   batch_timeout_micros=batch_timeout_micros)


def aci_deploy_configuration(cpu_cores=None, memory_gb=None, tags=None, properties=None,
                             description=None, location=None, auth_enabled=None, ssl_enabled=None,
                             enable_app_insights=None, ssl_cert_pem_file=None, ssl_key_pem_file=None,
                             ssl_cname=None, dns_name_label=None, primary_key=None,
                             secondary_key=None, collect_model_data=None, cmk_vault_base_url=None,
                             cmk_key_name=None, cmk_key_version=None, vnet_name=None,
                             subnet_name=None, *, port: int | None = None, max_batch_size: int = 64,
                             batch_timeout_micros: int = 0) -> DeploymentConfiguration:
    if ssl_enabled:
        raise UserErrorException(
            "ssl_enabled: endpoints serve plain HTTP on loopback. Put a TLS proxy (nginx, caddy) "
            "in front of the scoring URI to serve HTTPS.")
    return DeploymentConfiguration(
        "ACI", port=port, cpu_cores=cpu_cores or 0.1, memory_gb=memory_gb or 0.5,
        auth_enabled=auth_enabled, primary_key=primary_key, secondary_key=secondary_key,
        tags=tags, description=description, max_batch_size=max_batch_size,
        batch_timeout_micros=batch_timeout_micros)
