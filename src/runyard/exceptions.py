"""v1 `azureml.exceptions`: the exception names users catch."""

from runyard.errors import (
    ActivityFailedException,
    ComputeTargetException,
    ExperimentExecutionException,
    RunEnvironmentException,
    RunyardError,
    UserErrorException,
)

__all__ = ["RunyardError", "UserErrorException", "ActivityFailedException",
           "ExperimentExecutionException", "RunEnvironmentException", "ComputeTargetException"]
