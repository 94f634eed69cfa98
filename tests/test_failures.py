"""Scripts that fail, crash or are killed: the run says why, and nothing logged is lost."""

import pytest

from runyard.core import Experiment, ScriptRunConfig
from runyard.errors import ActivityFailedException


def _submit(ws, src, body, name="job.py", **kwargs):
    src.write(name, body)
    return Experiment(ws, "failures").submit(ScriptRunConfig(str(src.path), script=name, **kwargs))


def test_uncaught_exception_fails_the_run_with_error_exit_code_and_log_tail(ws, src):
    run = _submit(ws, src, """
        from runyard.core import Run
        run = Run.get_context()
        for i in range(3):
            run.log("step_loss", float(i))
        print("about to fail")
        raise ZeroDivisionError("division by zero in epoch 3")
    """)
    with pytest.raises(ActivityFailedException) as info:
        run.wait_for_completion()
    message = str(info.value)
    assert "ZeroDivisionError: division by zero in epoch 3" in message
    assert "about to fail" in message  # the last log lines come with the error
    details = run.get_details()
    assert details["status"] == "Failed"
    assert details["exitCode"] == 1
    error = details["error"]["error"]
    assert error["exitCode"] == 1 and "Traceback" in error["logTail"]
    # metrics logged just before the crash are kept
    assert run.get_metrics()["step_loss"] == [0.0, 1.0, 2.0]


def test_sigkilled_script_keeps_its_metrics(ws, src):
    run = _submit(ws, src, """
        import os, signal
        from runyard.core import Run
        run = Run.get_context()
        for i in range(1000):
            run.log("points", i)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "killed by signal SIGKILL" in details["error"]["error"]["message"]
    assert run.get_metrics()["points"] == list(range(1000))


def test_nonzero_exit_without_traceback(ws, src):
    run = _submit(ws, src, "import sys\nprint('bad input')\nsys.exit(3)\n")
    details = run.wait_for_completion(raise_on_error=False)
    assert details["error"]["error"]["message"] == "The script exited with code 3."
    assert details["exitCode"] == 3


def test_raise_on_error_false_returns_details(ws, src):
    run = _submit(ws, src, "raise SystemExit(2)\n")
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Failed"
