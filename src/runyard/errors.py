"""One exception root, with the v1 names users already catch as subclasses."""

from __future__ import annotations


class RunyardError(Exception):
    """Root of every error runyard raises on purpose."""


class UserErrorException(RunyardError, ValueError):
    """The input is wrong: the message names it, the value received and what to change."""


class NotFoundError(UserErrorException, LookupError):
    """Nothing of that name (or id, or version) in the workspace; the message lists what there is."""


class AlreadyExistsError(UserErrorException):
    """The name (or the files) is taken; the message says how to replace it or pick another."""


class RunEnvironmentException(RunyardError):
    """Run.get_context(allow_offline=False) was called outside a submitted job."""


class ActivityFailedException(RunyardError):
    """A run ended in Failed (or with an error); raised by wait_for_completion."""

    def __init__(self, message: str, error_details: dict | None = None):
        super().__init__(message)
        self.error_details = error_details or {}


class ExperimentExecutionException(RunyardError):
    """Waiting on a run was interrupted; the run itself goes on."""


class RunNotFoundError(NotFoundError):
    """No run with this id in the workspace."""


class IllegalTransitionError(RunyardError):
    """A run status change that the lifecycle does not allow."""


class SnapshotException(UserErrorException):
    """The source directory cannot be snapshotted (too big, too many files)."""


class StoreError(RunyardError):
    """A store of the workspace (its databases, its files) is damaged, missing or out of reach;
    the message says which one and what to do."""


class ComputeTargetException(RunyardError):
    """A compute target is missing or cannot run the job."""


class ComputeTargetNotFoundError(ComputeTargetException, NotFoundError):
    """No compute target of that name (v1 raises ComputeTargetException: still one)."""


class ComputeTargetExistsError(ComputeTargetException, AlreadyExistsError):
    """A compute target of that name exists already."""


class ModelNotFoundException(NotFoundError):
    """No registered model with this name (and version) in the workspace."""


class WebserviceException(RunyardError):
    """A deployment failed or a web service cannot do what was asked; the message says why."""

    def __init__(self, message: str, logs: str | None = None):
        super().__init__(message)
        self.message = message
        self.logs = logs


class WebserviceNotFoundError(WebserviceException, NotFoundError):
    """No service of that name (v1 raises WebserviceException: still one)."""


class WebserviceExistsError(WebserviceException, AlreadyExistsError):
    """A service of that name exists already."""


def received(value: object) -> str:
    """`Received: x=...` fragment in the Keras style, short enough for one line."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class HyperDriveConfigException(UserErrorException):
    """A sweep's configuration is not valid (v1: azureml.train.hyperdrive.HyperDriveConfigException)."""
