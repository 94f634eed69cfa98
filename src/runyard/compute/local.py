"""The compute targets of a workspace on this machine (the compute interface of
backends/__init__.py): runyard-started Ray clusters (provisioned by a detached process) and
attached ones, their status and nodes, their deletion."""

from __future__ import annotations

import builtins
import os
import shutil
import sys
from dataclasses import asdict

from runyard import detached, settings
from runyard.compute import ray_cluster, store
from runyard.compute.configs import (
    AmlComputeProvisioningConfiguration,
    ComputeStatus,
    RayAttachConfiguration,
    iso,
)

AML, RAY = "AmlCompute", "RayCompute"


class LocalComputeTargets:
    def __init__(self, workspace):
        self.ws = workspace

    def find(self, name: str) -> dict | None:
        return store.find(self.ws, name)

    def get(self, name: str) -> dict:
        return store.get(self.ws, name)

    def list(self) -> list[dict]:
        return store.list_all(self.ws)

    def create(self, name: str, provisioning: AmlComputeProvisioningConfiguration) -> None:
        """Record the target and start its provisioner, which starts the Ray nodes."""
        token = ray_cluster.new_token()
        store.insert(self.ws, name, AML, provisioning.validate(), store.CREATING, secret=token,
                     progress="Starting the provisioner")
        folder = self.ws.folder / "compute" / name
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, settings.WORKSPACE_NAME: self.ws.name}
        detached.start([sys.executable, "-m", "runyard.compute.provision", str(self.ws.folder), name],
                       folder / "provision.log", folder, env)

    def attach(self, name: str, attach: RayAttachConfiguration) -> None:
        config = attach.validate()
        record = {"name": name, "address": config["address"], "secret": attach.auth_token}
        found = ray_cluster.alive_nodes(record)  # fails here, before anything is recorded
        store.insert(self.ws, name, RAY, config, store.SUCCEEDED, address=config["address"],
                     secret=attach.auth_token, progress=f"Attached: {len(found)} node(s)")

    def alive(self, name: str) -> int:
        """How many of its nodes are alive now."""
        return len(ray_cluster.alive_nodes(self.get(name)))

    def status(self, name: str) -> dict:
        """ComputeStatus's fields."""
        record = self._checked(self.get(name))
        status = ComputeStatus(
            provisioning_state=record["state"], current_node_count=0,
            target_node_count=record["config"].get("max_nodes") or 0,
            creation_time=iso(record["created_at"]), modified_time=iso(record["updated_at"]),
            vm_size=record["config"].get("vm_size", ""), address=record["address"])
        if record["error"]:
            status.provisioning_errors = [{"error": {"code": "ProvisioningFailed",
                                                     "message": record["error"]}}]
        if record["state"] != store.SUCCEEDED:
            status.allocation_state = "resizing" if record["state"] == store.CREATING else "steady"
            return asdict(status)
        listed = self._nodes(record)
        alive = [n for n in listed if n["nodeState"] != "dead"]
        status.current_node_count = len(alive)
        if record["type"] == RAY:
            status.target_node_count = len(alive)
        status.node_state_counts = {
            "idleNodeCount": sum(n["nodeState"] == "idle" for n in alive),
            "runningNodeCount": sum(n["nodeState"] == "running" for n in alive),
            "unusableNodeCount": len(listed) - len(alive)}
        return asdict(status)

    def nodes(self, name: str) -> builtins.list[dict]:
        """v1's list_nodes(): nodeId (the Ray node id), privateIpAddress, port, nodeState
        (idle, running or dead) and runId."""
        return self._nodes(self.get(name))

    def delete(self, name: str) -> None:
        """Stop a runyard-started cluster (every node) and remove the target; an attached
        cluster is only forgotten."""
        record = self.get(name)
        store.update(self.ws, name, state=store.DELETING)
        ray_cluster.stop_nodes(record.get("processes") or [])
        if record["type"] == AML and record["secret"]:
            shutil.rmtree(ray_cluster.temp_dir(record["secret"]), ignore_errors=True)
        store.remove(self.ws, name)

    def _checked(self, record: dict) -> dict:
        """A runyard-started cluster whose head process is gone is Failed (after a reboot)."""
        processes = record.get("processes") or []
        if record["state"] == store.SUCCEEDED and processes and \
                not ray_cluster.node_process_alive(processes[0]):
            store.update(self.ws, record["name"], state=store.FAILED,
                         error="The cluster's head node is not running (stopped or rebooted). "
                               "Delete the target and create it again.")
            record = self.get(record["name"])
        return record

    def _nodes(self, record: dict) -> builtins.list[dict]:
        if record["state"] != store.SUCCEEDED:
            return []
        busy = self._busy_nodes(record["name"])
        listed = []
        for node in ray_cluster.nodes(record):
            run_id = busy.get(node["nodeId"])
            state = "dead" if not node["alive"] else "running" if run_id else "idle"
            listed.append({"nodeId": node["nodeId"], "privateIpAddress": node["privateIpAddress"],
                           "publicIpAddress": None, "port": node["port"], "nodeState": state,
                           "runId": run_id, "isHead": node["isHead"]})
        return listed

    def _busy_nodes(self, name: str) -> dict[str, str]:
        """Ray node id -> the active run placed on it."""
        from runyard.runs.status import RunStatus

        busy = {}
        for run in self.ws._registry.list_runs():
            if run["target"] != name or RunStatus(run["status"]).is_terminal():
                continue
            for node_id in run["properties"].get("runyard.nodes", "").split(","):
                if node_id:
                    busy[node_id] = run["run_id"]
        return busy
