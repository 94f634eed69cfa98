"""The run lifecycle (SDK v1 status names) as an explicit state machine."""

from __future__ import annotations

from enum import Enum

from runyard.errors import IllegalTransitionError


class RunStatus(str, Enum):
    QUEUED = "Queued"  # created by submit; the supervisor has not taken it yet
    PREPARING = "Preparing"  # environment and data are being made ready
    STARTING = "Starting"  # processes are being placed and spawned
    RUNNING = "Running"  # the user's script runs
    FINALIZING = "Finalizing"  # ./outputs and logs are uploaded, metrics flushed
    CANCEL_REQUESTED = "CancelRequested"  # cancel asked for; the supervisor is stopping the job
    NOT_RESPONDING = "NotResponding"  # the supervisor's heartbeat went stale
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    def is_terminal(self) -> bool:
        return self in TERMINAL

    def __str__(self) -> str:
        return self.value


TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})

_S = RunStatus
ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    _S.QUEUED: frozenset({_S.PREPARING, _S.STARTING, _S.CANCEL_REQUESTED, _S.CANCELED, _S.FAILED,
                          _S.NOT_RESPONDING}),
    _S.PREPARING: frozenset({_S.STARTING, _S.CANCEL_REQUESTED, _S.FAILED, _S.NOT_RESPONDING}),
    _S.STARTING: frozenset({_S.RUNNING, _S.CANCEL_REQUESTED, _S.FAILED, _S.NOT_RESPONDING}),
    _S.RUNNING: frozenset({_S.FINALIZING, _S.CANCEL_REQUESTED, _S.FAILED, _S.NOT_RESPONDING}),
    _S.FINALIZING: frozenset({_S.COMPLETED, _S.FAILED, _S.CANCELED, _S.NOT_RESPONDING}),
    _S.CANCEL_REQUESTED: frozenset({_S.FINALIZING, _S.CANCELED, _S.FAILED, _S.NOT_RESPONDING}),
    # A supervisor that resumes its heartbeat takes its run back; one that does not, fails it.
    _S.NOT_RESPONDING: frozenset({_S.PREPARING, _S.STARTING, _S.RUNNING, _S.FINALIZING,
                                  _S.CANCEL_REQUESTED, _S.FAILED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELED: frozenset(),
}


def check_transition(current: RunStatus, new: RunStatus) -> None:
    """Raise IllegalTransitionError unless current -> new is a legal lifecycle step."""
    if new not in ALLOWED[current]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current])) or "none (terminal)"
        raise IllegalTransitionError(
            f"A run in status {current.value} cannot move to {new.value}; allowed: {allowed}."
        )
