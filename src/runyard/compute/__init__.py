"""Compute targets: where a job's processes run. `local` (this machine) always exists."""

from __future__ import annotations

from runyard.errors import ComputeTargetException, received


class LocalCompute:
    """This machine: processes spawned by the run's supervisor."""

    type = "local"
    supports_multinode = False

    def __init__(self, workspace, name: str = "local"):
        self.workspace = workspace
        self.name = name

    def get_status(self) -> str:
        return "Succeeded"

    def __repr__(self) -> str:
        return f"LocalCompute(name={self.name!r})"


def list_targets(workspace) -> dict:
    return {"local": LocalCompute(workspace)}


def resolve_target(workspace, target) -> str:
    """The name of a compute target given as a name or an object; raises when unknown."""
    name = target if isinstance(target, str) else getattr(target, "name", None)
    if target is None:
        name = "local"
    known = list_targets(workspace)
    if name not in known:
        raise ComputeTargetException(
            f"Compute target {name!r} does not exist in workspace {workspace.name!r}. "
            f"Available: {', '.join(sorted(known))}. Received: compute_target={received(target)}"
        )
    return name
