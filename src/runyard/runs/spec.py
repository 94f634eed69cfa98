"""RunSpec: the validated description of a job that the supervisor executes (pydantic;
imported only where a run is submitted or supervised, so `import runyard` stays light)."""

from __future__ import annotations

import sys

from pydantic import BaseModel, Field

from runyard.runs.config import DEFAULT_MAX_RUN_DURATION_SECONDS


class RunSpec(BaseModel):
    """What the supervisor needs to run a job; stored with the run (re-runs, restarts)."""

    run_id: str
    experiment: str
    source_directory: str
    snapshot_id: str
    script: str | None = None
    arguments: list[str] = Field(default_factory=list)
    command: list[str] | None = None
    compute_target: str = "local"
    interpreter: str = Field(default_factory=lambda: sys.executable)
    max_run_duration_seconds: float = DEFAULT_MAX_RUN_DURATION_SECONDS
    environment_variables: dict[str, str] = Field(default_factory=dict)
    # Environment.definition(); None runs the job in the submitting interpreter.
    environment: dict | None = None
    # TensorflowConfiguration.as_dict() / MpiConfiguration.as_dict(); None: one process.
    distribution: dict | None = None
    # Datasets the job consumes (data/consumption.py); their placeholders are in arguments.
    inputs: list[dict] = Field(default_factory=list)
    # GPUs per node: None all the node has (v1), 0 none, n that many (held while the run runs)
    gpu_count: int | None = None
