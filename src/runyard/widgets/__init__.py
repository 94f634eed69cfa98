"""Notebook widgets (v1: azureml.widgets): `from runyard.widgets import RunDetails`."""

from runyard.widgets.run_details import RunDetails

__all__ = ["RunDetails"]
