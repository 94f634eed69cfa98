"""The settings and the status of compute targets, as plain data: what the v1 classes take
(`AmlCompute.provisioning_configuration`, `RayCompute.attach_configuration`) and what
`get_status()` returns, also sent through the server."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from runyard.errors import UserErrorException, received


@dataclass
class AmlComputeProvisioningConfiguration:
    vm_size: str = ""
    vm_priority: str = "dedicated"
    min_nodes: int = 0
    max_nodes: int | None = None
    idle_seconds_before_scaledown: int = 1800
    tags: dict | None = None
    description: str | None = None

    def validate(self) -> dict:
        max_nodes = 1 if self.max_nodes is None else self.max_nodes
        for label, value, low in (("max_nodes", max_nodes, 1), ("min_nodes", self.min_nodes, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserErrorException(f"{label} must be an integer of at least {low}. "
                                         f"Received: {label}={received(value)}")
        if self.min_nodes > max_nodes:
            raise UserErrorException(f"min_nodes ({self.min_nodes}) is larger than max_nodes "
                                     f"({max_nodes}).")
        if self.vm_priority not in ("dedicated", "lowpriority"):
            raise UserErrorException("vm_priority is 'dedicated' or 'lowpriority'. Received: "
                                     f"vm_priority={received(self.vm_priority)}")
        return {**asdict(self), "max_nodes": max_nodes}


@dataclass
class RayAttachConfiguration:
    address: str
    auth_token: str | None = None  # Ray's token (RAY_AUTH_TOKEN) when the cluster requires one

    def validate(self) -> dict:
        if not isinstance(self.address, str) or ":" not in self.address:
            raise UserErrorException(
                "address is the Ray cluster's GCS address, host:port (the head's --port, 6379 "
                f"by default). Received: address={received(self.address)}")
        return {"address": self.address.removeprefix("ray://")}


@dataclass
class ComputeStatus:
    """v1's AmlComputeStatus: what `get_status()` returns."""

    provisioning_state: str
    current_node_count: int
    target_node_count: int
    node_state_counts: dict = field(default_factory=dict)
    allocation_state: str = "steady"
    provisioning_errors: list = field(default_factory=list)
    creation_time: str | None = None
    modified_time: str | None = None
    vm_size: str = ""
    address: str | None = None

    def serialize(self) -> dict:
        return {"currentNodeCount": self.current_node_count,
                "targetNodeCount": self.target_node_count,
                "nodeStateCounts": self.node_state_counts, "allocationState": self.allocation_state,
                "provisioningState": self.provisioning_state,
                "provisioningErrors": self.provisioning_errors or None,
                "creationTime": self.creation_time, "modifiedTime": self.modified_time,
                "vmSize": self.vm_size, "address": self.address}

    def __repr__(self) -> str:
        return json.dumps(self.serialize())


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() if ts else None
