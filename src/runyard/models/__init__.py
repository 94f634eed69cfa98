"""Registered models: versioned files in the workspace, mirrored into MLflow's model registry."""
