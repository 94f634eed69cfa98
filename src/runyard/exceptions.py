"""v1 `azureml.exceptions`: the exception names users catch."""

from runyard.errors import (
    ActivityFailedException,
    ComputeTargetException,
    ExperimentExecutionException,
    ModelNotFoundException,
    RunEnvironmentException,
    RunyardError,
    UserErrorException,
    WebserviceException,
)

__all__ = ["RunyardError", "UserErrorException", "ActivityFailedException",
           "ExperimentExecutionException", "RunEnvironmentException", "ComputeTargetException",
           "ModelNotFoundException", "WebserviceException"]
