"""`python -m runyard.compute.provision <workspace dir> <name>`: start the Ray nodes of a
runyard-created compute target, one after the other, recording progress as it goes. Runs
detached from the client (ComputeTarget.create returns at once, as in v1); the nodes outlive it.
"""

from __future__ import annotations

import os
import sys
import traceback

from runyard import gpus
from runyard.compute import ray_cluster, store
from runyard.workspace import Workspace


def provision(ws: Workspace, name: str) -> int:
    record = store.get(ws, name)
    config, token = record["config"], record["secret"]
    count = config["max_nodes"]
    cpus = max(1, (os.cpu_count() or 1) // count)
    # a GPU vm_size (STANDARD_NC6: 1 GPU) gives each node that many of this machine's GPUs
    node_gpus = gpus.split_among_nodes(count, gpus.per_vm_size(config.get("vm_size", "")))
    folder = ws.folder / "compute" / name
    started: list[dict] = []
    try:
        for index in range(count):
            role = "the head node" if index == 0 else f"node {index + 1} of {count}"
            store.update(ws, name, progress=f"Starting {role}", processes=started)
            node = ray_cluster.start_node(
                head_address=started[0]["address"] if started else None, token=token,
                cpus=cpus, log=folder / f"node-{index}.log", gpus=node_gpus[index])
            started.append(node)
            current = store.find(ws, name)
            if current is None or current["state"] == store.DELETING:
                raise RuntimeError("the target was deleted while it was being created")
        store.update(ws, name, state=store.SUCCEEDED, address=started[0]["address"],
                     processes=started, progress=f"{count} node(s) running")
        return 0
    except Exception as exc:
        traceback.print_exc()
        ray_cluster.stop_nodes(started)
        if store.find(ws, name) is not None:
            store.update(ws, name, state=store.FAILED, processes=[], error=str(exc),
                         progress="Provisioning failed")
        return 1


def main(argv: list[str]) -> int:
    location, name = argv
    ws = Workspace._of_process(location)
    return provision(ws, name)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
