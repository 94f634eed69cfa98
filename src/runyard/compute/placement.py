"""Where a run's job goes: its compute target resolved at submit, a job the target can never
run refused there, and the JobRunner that runs it (execution/runner.py)."""

from __future__ import annotations

from runyard.errors import (
    ComputeTargetException,
    ComputeTargetNotFoundError,
    UserErrorException,
    received,
)


def resolve_target(workspace, target) -> str:
    """The name of a compute target given as a name or an object; raises when unknown."""
    name = target if isinstance(target, str) else getattr(target, "name", None)
    if target is None:
        name = "local"
    if name == "local":
        return name
    targets = workspace.backend.compute
    if not isinstance(name, str) or targets.find(name) is None:
        known = ["local", *(r["name"] for r in targets.list())]
        raise ComputeTargetNotFoundError(
            f"Compute target {name!r} does not exist in workspace {workspace.name!r}. "
            f"Available: {', '.join(known)}. Received: compute_target={received(target)}")
    return name


def check_fits(workspace, name: str, distribution: dict | None) -> None:
    """Refuse at submit a job the target can never run: more nodes than it has."""
    from runyard.distributed.plan import node_count

    needed = node_count(distribution)
    if name == "local":
        if distribution and distribution["kind"] == "mpi" and needed > 1:
            raise UserErrorException(
                f"node_count={needed} needs a cluster compute target; the local target runs "
                "every process on this machine (node_count=1).")
        return
    from runyard.compute.local import AML

    targets = workspace.backend.compute
    record = targets.get(name)
    # A runyard cluster can grow to max_nodes; an attached one has the nodes alive now.
    most = record["config"]["max_nodes"] if record["type"] == AML else targets.alive(name)
    if needed > most:
        what = ("one node per TensorFlow task (chief, workers and parameter servers)"
                if distribution and distribution["kind"] == "tensorflow" else f"node_count={needed}")
        raise ComputeTargetException(
            f"This job needs {needed} nodes ({what}), but compute target {name!r} has at most "
            f"{most} node(s). Use fewer nodes, or a larger cluster (max_nodes).")


def job_runner(ctx):
    """The JobRunner for a run's job, by its compute target: LocalJob on `local`, RayJob on a
    Ray cluster (Ray is imported only then)."""
    if ctx.spec.compute_target == "local":
        from runyard.execution.local import LocalJob

        return LocalJob(ctx)
    from runyard.compute.ray_job import RayJob

    return RayJob(ctx.workspace.backend.compute.get(ctx.spec.compute_target), ctx)
