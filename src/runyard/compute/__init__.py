"""Compute targets: where a job's processes run. `local` (this machine) always exists; the
others are Ray clusters recorded in the workspace (compute/targets.py: the v1 classes;
compute/local.py and compute/remote.py: the backend; compute/placement.py: where a run goes)."""
