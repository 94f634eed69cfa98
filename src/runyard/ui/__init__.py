"""The web UI: MLflow's, on the workspace's stores, opened in its model-training view."""
