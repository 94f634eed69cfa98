"""v1's compute target classes over Ray clusters.

- `AmlCompute.provisioning_configuration(max_nodes=N, ...)` + `ComputeTarget.create`: runyard
  starts a Ray cluster of N nodes on this machine (a head and N-1 more, each its own raylet) in
  a detached provisioner; `wait_for_completion` follows it. Every node offers one job slot: a
  job takes its nodes whole, as on AmlCompute.
- `RayCompute.attach_configuration(address=...)` + `ComputeTarget.attach`: an existing Ray
  cluster (started with `ray start`, the cluster launcher or KubeRay); runyard only connects.
  `delete()` / `detach()` forgets it and leaves the cluster running.
"""

from __future__ import annotations

import builtins
import time
from typing import Any

from runyard.compute import store
from runyard.compute.configs import (
    AmlComputeProvisioningConfiguration,
    ComputeStatus,
    RayAttachConfiguration,
    iso,
)
from runyard.compute.local import AML, RAY
from runyard.errors import ComputeTargetException, UserErrorException, received


class LocalCompute:
    """This machine: processes spawned by the run's supervisor."""

    type = "local"

    def __init__(self, workspace, name: str = "local"):
        self.workspace = workspace
        self.name = name

    provisioning_state = "Succeeded"  # (v1 notebooks print each target's type and state)

    def get_status(self) -> str:
        return "Succeeded"

    def __repr__(self) -> str:
        return f"LocalCompute(name={self.name!r})"


def list_targets(workspace) -> dict:
    return {"local": LocalCompute(workspace),
            **{t.name: t for t in ComputeTarget.list(workspace)}}


class ComputeTarget:
    """`ComputeTarget(workspace=ws, name=...)` returns the existing target (an AmlCompute or
    RayCompute) or raises ComputeTargetException."""

    type = "ComputeTarget"
    workspace: Any  # set by __new__, with the target's record
    name: str
    _record: dict

    def __new__(cls, workspace=None, name=None):
        if workspace is None or name is None:
            raise UserErrorException("ComputeTarget(workspace=ws, name='...') needs both.")
        if name == "local":
            return LocalCompute(workspace)
        record = workspace.backend.compute.get(name)
        kind = AmlCompute if record["type"] == AML else RayCompute
        if cls not in (ComputeTarget, kind):
            raise ComputeTargetException(f"Compute target {name!r} is a {record['type']}, "
                                         f"not a {cls.__name__}.")
        target = object.__new__(kind)
        target.workspace, target.name, target._record = workspace, name, record
        return target

    def __init__(self, workspace=None, name=None):
        pass  # everything happens in __new__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workspace={self.workspace.name!r}, name={self.name!r})"

    @property
    def _targets(self):
        return self.workspace.backend.compute

    def _refresh(self) -> dict:
        self._record = self._targets.get(self.name)
        return self._record

    # -- creation ---------------------------------------------------------------------------
    @staticmethod
    def create(workspace, name, provisioning_configuration):
        if not isinstance(provisioning_configuration, AmlComputeProvisioningConfiguration):
            raise UserErrorException(
                "ComputeTarget.create takes AmlCompute.provisioning_configuration(...). To use a "
                "running Ray cluster, ComputeTarget.attach(ws, name, "
                "RayCompute.attach_configuration(address=...)). Received: "
                f"provisioning_configuration={received(provisioning_configuration)}")
        store.validate_name(name)
        provisioning_configuration.validate()
        workspace.backend.compute.create(name, provisioning_configuration)
        return ComputeTarget(workspace, name)

    @staticmethod
    def attach(workspace, name, attach_configuration):
        if not isinstance(attach_configuration, RayAttachConfiguration):
            raise UserErrorException(
                "ComputeTarget.attach takes RayCompute.attach_configuration(address=...). "
                f"Received: attach_configuration={received(attach_configuration)}")
        store.validate_name(name)
        attach_configuration.validate()
        workspace.backend.compute.attach(name, attach_configuration)
        return ComputeTarget(workspace, name)

    @staticmethod
    def list(workspace) -> list:
        return [ComputeTarget(workspace, r["name"]) for r in workspace.backend.compute.list()]

    # -- state ------------------------------------------------------------------------------
    @property
    def provisioning_state(self) -> str:
        return self._refresh()["state"]

    @property
    def address(self) -> str | None:
        return self._refresh()["address"]

    @property
    def max_nodes(self) -> int:
        """The most nodes a job can get: max_nodes for a runyard cluster, the nodes alive now
        for an attached one."""
        record = self._record  # address, token and max_nodes never change
        if record["type"] == AML:
            return record["config"]["max_nodes"]
        return self._targets.alive(self.name)

    def get_status(self) -> ComputeStatus:
        return ComputeStatus(**self._targets.status(self.name))

    def list_nodes(self) -> builtins.list[dict]:
        """v1's list_nodes(): nodeId (the Ray node id), privateIpAddress, port, nodeState
        (idle, running or dead) and runId."""
        return self._targets.nodes(self.name)

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: float = 25, is_delete_operation: bool = False) -> None:
        """Wait until the target is provisioned (and has `min_node_count` nodes alive)."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        shown = None
        while True:
            record = self._refresh()
            line = f"{record['state']}: {record['progress']}" if record["progress"] else record["state"]
            if show_output and line != shown:
                print(line, flush=True)
                shown = line
            if record["state"] == store.FAILED:
                raise ComputeTargetException(
                    f"Compute target {self.name!r} failed to provision: {record['error']}")
            if record["state"] == store.SUCCEEDED:
                if min_node_count is None or self._targets.alive(self.name) >= min_node_count:
                    if show_output:
                        print(self.get_status().serialize(), flush=True)
                    return
            if time.monotonic() > deadline:
                raise ComputeTargetException(
                    f"Compute target {self.name!r} is still {record['state']} after "
                    f"{timeout_in_minutes:g} minutes ({record['progress']}).")
            time.sleep(0.25)

    def delete(self) -> None:
        """Stop a runyard-started cluster (every node) and remove the target; an attached
        cluster is only forgotten."""
        self._targets.delete(self.name)

    def detach(self) -> None:
        if self._refresh()["type"] != RAY:
            raise ComputeTargetException(
                f"{self.name!r} was created by runyard; use delete() to stop and remove it.")
        self.delete()

    def serialize(self) -> dict:
        record = self._refresh()
        return {"name": record["name"], "type": record["type"], "provisioningState": record["state"],
                "address": record["address"], "properties": record["config"],
                "createdOn": iso(record["created_at"])}


class AmlCompute(ComputeTarget):
    type = AML

    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated",
                                   min_nodes: int = 0, max_nodes: int | None = None,
                                   idle_seconds_before_scaledown: int = 1800, admin_username=None,
                                   admin_user_password=None, admin_user_ssh_key=None,
                                   vnet_resourcegroup_name=None, vnet_name=None, subnet_name=None,
                                   tags=None, description=None, remote_login_port_public_access="NotSpecified",
                                   identity_type=None, identity_id=None, location=None,
                                   enable_node_public_ip=True) -> AmlComputeProvisioningConfiguration:
        """The v1 signature. On runyard the cluster runs on this machine: max_nodes Ray nodes;
        vm_size, priorities, networking and identity settings are recorded, not used."""
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes, max_nodes=max_nodes,
            idle_seconds_before_scaledown=idle_seconds_before_scaledown, tags=tags,
            description=description)


class RayCompute(ComputeTarget):
    type = RAY

    @staticmethod
    def attach_configuration(address: str, auth_token: str | None = None) -> RayAttachConfiguration:
        return RayAttachConfiguration(address=address, auth_token=auth_token)
