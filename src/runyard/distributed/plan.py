"""The processes of a job: one for a plain job, one per task for TensorFlow, and which of them
decide when the job is done."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class ProcessSpec:
    rank: int
    name: str  # "worker 0", "ps 0", "chief 0"; "" for a single-process job
    env: dict[str, str] = field(default_factory=dict)
    decides_end: bool = True  # the job ends when every deciding process has exited


def single() -> list[ProcessSpec]:
    return [ProcessSpec(rank=0, name="")]


def tensorflow(config: dict, addresses: list[str]) -> list[ProcessSpec]:
    """One process per task, each with its own TF_CONFIG. Ranks: chief, workers, then ps;
    `addresses` ("host:port", one per task in rank order) are where each task listens."""
    tasks: list[tuple[str, int]] = []
    if config["chief"]:
        tasks.append(("chief", 0))
    tasks += [("worker", i) for i in range(config["worker_count"])]
    tasks += [("ps", i) for i in range(config["parameter_server_count"])]
    addresses = iter(addresses)
    cluster: dict[str, list[str]] = {}
    for task_type, _ in tasks:
        cluster.setdefault(task_type, []).append(next(addresses))
    world = len(tasks)
    specs = []
    for rank, (task_type, index) in enumerate(tasks):
        tf_config = {"cluster": cluster, "task": {"type": task_type, "index": index},
                     "environment": "cloud"}
        # PS-strategy workers and parameter servers serve until stopped: with a chief, the
        # chief decides the end; without one, the workers do (ps never exit on their own).
        if config["chief"]:
            decides = task_type == "chief"
        else:
            decides = task_type == "worker"
        specs.append(ProcessSpec(
            rank=rank, name=f"{task_type} {index}", decides_end=decides,
            env={"TF_CONFIG": json.dumps(tf_config), "RANK": str(rank), "WORLD_SIZE": str(world),
                 "LOCAL_RANK": str(rank)}))
    return specs


def port_count(config: dict) -> int:
    return config["worker_count"] + config["parameter_server_count"] + int(config["chief"])


def node_count(distribution: dict | None) -> int:
    """Nodes a job takes on a cluster target: one per TensorFlow task, MPI's node_count."""
    if not distribution:
        return 1
    if distribution["kind"] == "tensorflow":
        return port_count(distribution)
    return distribution["node_count"]


# Wraps each MPI rank's command: the usual rank variables from OpenMPI's, and the rank's exit
# code written to $RUNYARD_RANKS_DIR/<rank>, so the supervisor learns at once that a rank
# failed (mpirun itself may wait on the surviving ranks for a long time).
# On a cluster, mpirun hands every remote daemon its own working folder, which is another
# node's: each rank moves to its node's folder ($RUNYARD_NODE_WORKDIR, set by the node's launcher).
_RANK_SHIM = ('cd "${RUNYARD_NODE_WORKDIR:-.}" || exit 1; '
              'export RANK=$OMPI_COMM_WORLD_RANK WORLD_SIZE=$OMPI_COMM_WORLD_SIZE '
              'LOCAL_RANK=$OMPI_COMM_WORLD_LOCAL_RANK; "$@"; code=$?; '
              'echo $code > "$RUNYARD_RANKS_DIR/$RANK"; exit $code')


def mpi_argv(config: dict, argv: list[str], mpirun: str, as_root: bool,
             launch: list[str] = ()) -> list[str]:
    """One mpirun that starts every rank; --tag-output marks each piece of output with its
    rank, which the supervisor splits into per-rank logs. `launch`: where the ranks go (a
    hostfile and the remote launcher on a cluster)."""
    ranks = config["process_count_per_node"] * config["node_count"]
    launcher = [mpirun, "-np", str(ranks), "--oversubscribe", "--bind-to", "none", "--tag-output"]
    if as_root:
        launcher.append("--allow-run-as-root")
    return [*launcher, *launch, "sh", "-c", _RANK_SHIM, "rank", *argv]
