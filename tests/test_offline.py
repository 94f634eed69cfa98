import pytest

from runyard.core import Run
from runyard.errors import RunEnvironmentException


def test_outside_a_job_get_context_prints_what_it_would_log(capsys):
    run = Run.get_context()
    run.log("accuracy", 0.93)
    run.log_list("losses", [1, 2])
    assert "Attempted to log scalar metric accuracy:\n0.93" in capsys.readouterr().out
    assert run.id.startswith("OfflineRun_")


def test_allow_offline_false_raises(monkeypatch):
    import runyard.runs.run as run_module

    monkeypatch.setattr(run_module, "_context_run", None)
    with pytest.raises(RunEnvironmentException, match="outside a submitted run"):
        Run.get_context(allow_offline=False)


def test_one_context_run_per_process_across_threads():
    import threading

    seen = []
    thread = threading.Thread(target=lambda: seen.append(Run.get_context()))
    thread.start()
    thread.join()
    assert seen[0] is Run.get_context()
