"""MpiConfiguration and TensorflowConfiguration (SDK v1 signatures)."""

from __future__ import annotations

from runyard.errors import UserErrorException, received


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserErrorException(
            f"{name} must be an integer of at least {minimum}. Received: {name}={received(value)}")
    return value


class TensorflowConfiguration:
    """TF_CONFIG for every process. parameter_server_count=0: MultiWorkerMirroredStrategy.

    `chief=True` adds a coordinator task ("chief", index 0), which TF2's
    ParameterServerStrategy needs: the chief runs model.fit, while the workers and parameter
    servers run `tf.distribute.Server(...).join()`; the run ends when the chief ends.
    """

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1, chief: bool = False):
        self.worker_count = _count("worker_count", worker_count, 1)
        self.parameter_server_count = _count("parameter_server_count", parameter_server_count, 0)
        self.chief = bool(chief)

    @property
    def node_count(self) -> int:
        return 1

    def as_dict(self) -> dict:
        return {"kind": "tensorflow", "worker_count": self.worker_count,
                "parameter_server_count": self.parameter_server_count, "chief": self.chief}

    def __repr__(self) -> str:
        return (f"TensorflowConfiguration(worker_count={self.worker_count}, "
                f"parameter_server_count={self.parameter_server_count}, chief={self.chief})")


class MpiConfiguration:
    """An MPI job launched with mpirun (OpenMPI)."""

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1):
        self.process_count_per_node = _count("process_count_per_node", process_count_per_node, 1)
        self.node_count = _count("node_count", node_count, 1)

    def as_dict(self) -> dict:
        return {"kind": "mpi", "process_count_per_node": self.process_count_per_node,
                "node_count": self.node_count}

    def __repr__(self) -> str:
        return (f"MpiConfiguration(process_count_per_node={self.process_count_per_node}, "
                f"node_count={self.node_count})")
