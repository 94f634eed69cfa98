"""Hyperparameter sweeps (v1 HyperDrive): drawing trials from a parameter space (space.py) and
deciding when a trial stops early (policies.py). The v1 classes are in runyard/train/hyperdrive."""
