"""Workspaces: where runs, metrics, artifacts and runyard's registry live."""

from runyard.workspace.workspace import Workspace

__all__ = ["Workspace"]
