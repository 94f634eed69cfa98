"""The v1 arguments of Model.deploy and Webservice.update (Model objects, InferenceConfig,
deployment configurations) turned into an endpoint's fields for the workspace's backend,
which checks them where the endpoint runs."""

from __future__ import annotations

from pathlib import Path

from runyard.errors import UserErrorException, received
from runyard.serving import store as endpoint_store
from runyard.serving.configs import (
    DeploymentConfiguration,
    InferenceConfig,
    aci_deploy_configuration,
)
from runyard.serving.spec import EndpointSpec, ServedModel


def deploy(ws, name, models, inference_config, deployment_config, deployment_target, overwrite):
    """Model.deploy: record the endpoint and start its server; returns its Webservice."""
    from runyard.serving.webservice import Webservice

    endpoint_store.validate_name(name)
    if deployment_target is not None:
        raise UserErrorException(
            "deployment_target: endpoints run on this machine. Leave deployment_target=None and "
            "choose LocalWebservice or AciWebservice.deploy_configuration(...).")
    config = deployment_config or aci_deploy_configuration()
    fields = spec_fields(ws, name, models, inference_config, config)
    ws.backend.endpoints.deploy(name, fields, config.primary_key, config.secondary_key, overwrite)
    return Webservice(ws, name)


def spec_fields(ws, name: str, models, inference_config, config: DeploymentConfiguration | None,
                base: EndpointSpec | None = None) -> dict:
    """The endpoint spec's fields from the v1 arguments (with `base`, an update: what is not
    given stays as it was). The entry script's folder is snapshotted here (the backend sends a
    server what it lacks)."""
    from runyard.models.model import Model

    if config is not None and not isinstance(config, DeploymentConfiguration):
        raise UserErrorException(
            "deployment_config must come from LocalWebservice.deploy_configuration(...) or "
            f"AciWebservice.deploy_configuration(...). Received: deployment_config={received(config)}")
    fields = base.model_dump() if base is not None else {"name": name}
    if models is not None or base is None:
        models = [models] if isinstance(models, Model) else list(models or [])
        if not models or not all(isinstance(m, Model) for m in models):
            raise UserErrorException(
                f"models must be a non-empty list of Model objects. Received: models={received(models)}")
        fields["models"] = [ServedModel(name=m.name, version=m.version, path=m.url,
                                        framework=m.model_framework).model_dump() for m in models]
    if inference_config is not None:
        if not isinstance(inference_config, InferenceConfig):
            raise UserErrorException(
                "inference_config must be an InferenceConfig(entry_script=..., environment=...). "
                f"Received: inference_config={received(inference_config)}")
        from runyard.runs import snapshot

        environment = inference_config.environment
        snapshot_id = snapshot.take(Path(inference_config.source_directory), ws.snapshots_dir)
        fields.update(entry_script=inference_config.entry_script, snapshot_id=snapshot_id,
                      environment=environment.definition() if environment is not None else None)
    if config is not None:
        fields.update(compute_type=config.compute_type, port=config.port or fields.get("port"),
                      auth_enabled=config.auth_enabled, cpu_cores=config.cpu_cores,
                      memory_gb=config.memory_gb, max_batch_size=config.max_batch_size,
                      batch_timeout_micros=config.batch_timeout_micros,
                      description=config.description, tags=config.tags)
    return fields


def config_like(base: EndpointSpec, auth_enabled, tags, description) -> DeploymentConfiguration:
    """Webservice.update(auth_enabled=, tags=, description=): the service's configuration
    with those changed."""
    return DeploymentConfiguration(
        base.compute_type, port=base.port, cpu_cores=base.cpu_cores, memory_gb=base.memory_gb,
        auth_enabled=base.auth_enabled if auth_enabled is None else auth_enabled,
        tags=base.tags if tags is None else tags,
        description=base.description if description is None else description,
        max_batch_size=base.max_batch_size, batch_timeout_micros=base.batch_timeout_micros)
