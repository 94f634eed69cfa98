"""v1 `azureml.core.resource_configuration.ResourceConfiguration`."""

from __future__ import annotations

from runyard.errors import UserErrorException, received


class ResourceConfiguration:
    """The CPU, memory and GPU a model's no-code deployment asks for.

    Recorded with the model and its endpoints and shown by `runyard endpoint list`; a local
    endpoint is not confined to them (it uses the machine's cores).
    """

    def __init__(self, cpu: float | None = None, memory_in_gb: float | None = None,
                 gpu: int | None = None):
        for label, value in (("cpu", cpu), ("memory_in_gb", memory_in_gb), ("gpu", gpu)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or value < 0):
                raise UserErrorException(
                    f"ResourceConfiguration {label} must be a number >= 0. Received: {label}={received(value)}")
        self.cpu, self.memory_in_gb, self.gpu = cpu, memory_in_gb, gpu

    def serialize(self) -> dict:
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    @staticmethod
    def deserialize(payload: dict | None) -> ResourceConfiguration | None:
        if not payload:
            return None
        return ResourceConfiguration(payload.get("cpu"), payload.get("memoryInGB"), payload.get("gpu"))

    def __eq__(self, other) -> bool:
        return isinstance(other, ResourceConfiguration) and other.serialize() == self.serialize()

    def __repr__(self) -> str:
        return f"ResourceConfiguration(cpu={self.cpu}, memory_in_gb={self.memory_in_gb}, gpu={self.gpu})"
