import pytest

from runyard.errors import IllegalTransitionError
from runyard.runs.status import ALLOWED, TERMINAL, RunStatus, check_transition


def test_happy_path_is_legal():
    path = ["Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed"]
    for current, new in zip(path, path[1:], strict=False):
        check_transition(RunStatus(current), RunStatus(new))


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_are_final(terminal):
    assert terminal.is_terminal()
    for new in RunStatus:
        if new != terminal:
            with pytest.raises(IllegalTransitionError, match="terminal"):
                check_transition(terminal, new)


def test_illegal_step_names_the_allowed_ones():
    with pytest.raises(IllegalTransitionError) as info:
        check_transition(RunStatus.QUEUED, RunStatus.COMPLETED)
    assert "Queued cannot move to Completed" in str(info.value)
    assert "Preparing" in str(info.value)


def test_every_active_state_can_fail_and_stop_responding():
    for status, allowed in ALLOWED.items():
        if not status.is_terminal():
            assert RunStatus.FAILED in allowed
            if status != RunStatus.NOT_RESPONDING:
                assert RunStatus.NOT_RESPONDING in allowed


def test_registry_transition_is_compare_and_set(ws):
    import time

    registry = ws._registry
    registry.insert_run(run_id="r1", experiment="e", status=RunStatus.QUEUED, target="local",
                        created_at=time.time(), spec={"snapshot_id": "x"})
    assert registry.transition("r1", RunStatus.PREPARING) == RunStatus.QUEUED
    # only_from that does not match: nothing changes, no error
    assert registry.transition("r1", RunStatus.CANCELED, only_from={RunStatus.QUEUED}) is None
    assert registry.get_run("r1")["status"] == RunStatus.PREPARING
    with pytest.raises(IllegalTransitionError):
        registry.transition("r1", RunStatus.COMPLETED)
    registry.transition("r1", RunStatus.FAILED, error={"message": "boom"})
    record = registry.get_run("r1")
    assert record["status"] == RunStatus.FAILED and record["end_time"] is not None
    assert record["error"] == {"message": "boom"}
