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

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from runyard import detached
from runyard.compute import ray_cluster, remote, store
from runyard.errors import ComputeTargetException, UserErrorException, received

AML, RAY = "AmlCompute", "RayCompute"


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


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() if ts else None


class ComputeTarget:
    """`ComputeTarget(workspace=ws, name=...)` returns the existing target (an AmlCompute or
    RayCompute) or raises ComputeTargetException."""

    type = "ComputeTarget"

    def __new__(cls, workspace=None, name=None):
        if workspace is None or name is None:
            raise UserErrorException("ComputeTarget(workspace=ws, name='...') needs both.")
        if name == "local":
            from runyard.compute import LocalCompute

            return LocalCompute(workspace)
        record = store.get(workspace, name)
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

    def _refresh(self) -> dict:
        self._record = store.get(self.workspace, self.name)
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
        config = provisioning_configuration.validate()
        if workspace.is_remote:  # the server starts the cluster on its machine
            remote.create(workspace, name, provisioning_configuration)
            return ComputeTarget(workspace, name)
        token = ray_cluster.new_token()
        store.insert(workspace, name, AML, config, store.CREATING, secret=token,
                     progress="Starting the provisioner")
        folder = workspace.location / "compute" / name
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RUNYARD_WORKSPACE_NAME": workspace.name}
        detached.start([sys.executable, "-m", "runyard.compute.provision", str(workspace.location), name],
                       folder / "provision.log", folder, env)
        return ComputeTarget(workspace, name)

    @staticmethod
    def attach(workspace, name, attach_configuration):
        if not isinstance(attach_configuration, RayAttachConfiguration):
            raise UserErrorException(
                "ComputeTarget.attach takes RayCompute.attach_configuration(address=...). "
                f"Received: attach_configuration={received(attach_configuration)}")
        store.validate_name(name)
        config = attach_configuration.validate()
        if workspace.is_remote:  # the server checks that it reaches the cluster
            remote.attach(workspace, name, attach_configuration)
            return ComputeTarget(workspace, name)
        record = {"name": name, "address": config["address"], "secret": attach_configuration.auth_token}
        found = ray_cluster.alive_nodes(record)  # fails here, before anything is recorded
        store.insert(workspace, name, RAY, config, store.SUCCEEDED, address=config["address"],
                     secret=attach_configuration.auth_token,
                     progress=f"Attached: {len(found)} node(s)")
        return ComputeTarget(workspace, name)

    @staticmethod
    def list(workspace) -> list:
        return [ComputeTarget(workspace, r["name"]) for r in store.list_all(workspace)]

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
        return self._alive_count(record)

    def _alive_count(self, record: dict) -> int:
        if self.workspace.is_remote:
            return sum(n["nodeState"] != "dead" for n in self.list_nodes())
        return len(ray_cluster.alive_nodes(record))

    def _check_health(self, record: dict) -> dict:
        """A runyard-started cluster whose head process is gone is Failed (after a reboot)."""
        processes = record.get("processes") or []
        if record["state"] == store.SUCCEEDED and processes and \
                not ray_cluster.node_process_alive(processes[0]):
            store.update(self.workspace, self.name, state=store.FAILED,
                         error="The cluster's head node is not running (stopped or rebooted). "
                               "Delete the target and create it again.")
            record = self._refresh()
        return record

    def get_status(self) -> ComputeStatus:
        if self.workspace.is_remote:
            return ComputeStatus(**remote.status(self.workspace, self.name))
        record = self._check_health(self._refresh())
        status = ComputeStatus(
            provisioning_state=record["state"], current_node_count=0,
            target_node_count=record["config"].get("max_nodes") or 0,
            creation_time=_iso(record["created_at"]), modified_time=_iso(record["updated_at"]),
            vm_size=record["config"].get("vm_size", ""), address=record["address"])
        if record["error"]:
            status.provisioning_errors = [{"error": {"code": "ProvisioningFailed",
                                                     "message": record["error"]}}]
        if record["state"] != store.SUCCEEDED:
            status.allocation_state = "resizing" if record["state"] == store.CREATING else "steady"
            return status
        listed = self._list_nodes(record)
        alive = [n for n in listed if n["nodeState"] != "dead"]
        status.current_node_count = len(alive)
        if record["type"] == RAY:
            status.target_node_count = len(alive)
        status.node_state_counts = {
            "idleNodeCount": sum(n["nodeState"] == "idle" for n in alive),
            "runningNodeCount": sum(n["nodeState"] == "running" for n in alive),
            "unusableNodeCount": len(listed) - len(alive)}
        return status

    def list_nodes(self) -> list[dict]:
        """v1's list_nodes(): nodeId (the Ray node id), privateIpAddress, port, nodeState
        (idle, running or dead) and runId."""
        if self.workspace.is_remote:
            return remote.nodes(self.workspace, self.name)
        return self._list_nodes(self._refresh())

    def _list_nodes(self, record: dict) -> list[dict]:
        if record["state"] != store.SUCCEEDED:
            return []
        busy = self._busy_nodes()
        listed = []
        for node in ray_cluster.nodes(record):
            run_id = busy.get(node["nodeId"])
            state = "dead" if not node["alive"] else "running" if run_id else "idle"
            listed.append({"nodeId": node["nodeId"], "privateIpAddress": node["privateIpAddress"],
                           "publicIpAddress": None, "port": node["port"], "nodeState": state,
                           "runId": run_id, "isHead": node["isHead"]})
        return listed

    def _busy_nodes(self) -> dict[str, str]:
        """Ray node id -> the active run placed on it."""
        from runyard.runs.status import RunStatus

        busy = {}
        for run in self.workspace._registry.list_runs():
            if run["target"] != self.name or RunStatus(run["status"]).is_terminal():
                continue
            for node_id in run["properties"].get("runyard.nodes", "").split(","):
                if node_id:
                    busy[node_id] = run["run_id"]
        return busy

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
                if min_node_count is None or self._alive_count(record) >= min_node_count:
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
        if self.workspace.is_remote:
            return remote.delete(self.workspace, self.name)
        record = self._refresh()
        store.update(self.workspace, self.name, state=store.DELETING)
        ray_cluster.stop_nodes(record.get("processes") or [])
        if record["type"] == AML and record["secret"]:
            import shutil

            shutil.rmtree(ray_cluster.temp_dir(record["secret"]), ignore_errors=True)
        store.remove(self.workspace, self.name)

    def detach(self) -> None:
        if self._refresh()["type"] != RAY:
            raise ComputeTargetException(
                f"{self.name!r} was created by runyard; use delete() to stop and remove it.")
        self.delete()

    def serialize(self) -> dict:
        record = self._refresh()
        return {"name": record["name"], "type": record["type"], "provisioningState": record["state"],
                "address": record["address"], "properties": record["config"],
                "createdOn": _iso(record["created_at"])}


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
