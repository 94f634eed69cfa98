"""What an endpoint serves and how: validated at deploy time, recorded with the endpoint, read
by its server process."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ServedModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    path: str  # the model's file or folder in the workspace store
    framework: str | None = None


class EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    compute_type: str = "ACI"  # "ACI" or "Local": which v1 deployment configuration asked for it
    models: list[ServedModel]
    # Entry-script deployments: the snapshot of source_directory and the script in it.
    snapshot_id: str | None = None
    entry_script: str | None = None
    environment: dict | None = None  # Environment.definition(); None: runyard's interpreter
    port: int | None = None  # None: any free port
    auth_enabled: bool = False
    cpu_cores: float | None = None
    memory_gb: float | None = None
    max_batch_size: int = 64
    batch_timeout_micros: int = 0
    description: str | None = None
    tags: dict[str, str] = {}

    @property
    def no_code(self) -> bool:
        return self.entry_script is None
