"""Interactive runs (v1's Experiment.start_logging): logged to from the calling process, ended
by complete() / fail() / a `with` block, failed when the process that started them dies, and
run.fail() from a submitted script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import wait_until
from runyard.core import Experiment, Run, ScriptRunConfig
from runyard.errors import UserErrorException
from runyard.stores import tracking


def test_an_interactive_run_logs_uploads_and_completes(ws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = Experiment(ws, "notebook")
    run = exp.start_logging(snapshot_directory=None)
    assert run.get_status() == "Running"
    for step in range(3):
        run.log("loss", 1.0 / (step + 1))
    run.log_list("sizes", [1, 2, 3])
    (tmp_path / "notes.txt").write_text("by hand")
    run.upload_file("extra/notes.txt", str(tmp_path / "notes.txt"))
    Path("outputs").mkdir()
    Path("outputs/model.txt").write_text("trained interactively")
    run.complete()
    assert run.get_status() == "Completed"
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1 / 3], "sizes": [1, 2, 3]}
    assert {"extra/notes.txt", "outputs/model.txt"} <= set(run.get_file_names())
    mlflow_run = tracking.client(ws.tracking_uri).get_run(run._refresh()["mlflow_run_id"])
    assert mlflow_run.info.status == "FINISHED"
    assert run.get_snapshot_id()  # (an empty one: nothing was asked to be snapshotted)
    run.complete()  # ending an ended run changes nothing


def test_a_with_block_fails_the_run_with_the_exception_and_fail_gives_a_reason(ws, tmp_path):
    exp = Experiment(ws, "notebook")
    with pytest.raises(ZeroDivisionError):
        with exp.start_logging(outputs=False) as run:
            run.log("before", 1)
            run.log("ratio", 1 / 0)
    assert run.get_status() == "Failed"
    error = run.get_details()["error"]["error"]
    assert error["message"] == "ZeroDivisionError: division by zero" and error["code"] == "UserError"
    assert run.get_metrics() == {"before": 1}

    with exp.start_logging(outputs=False) as second:
        second.log("fine", 2)
    assert second.get_status() == "Completed"

    third = exp.start_logging(outputs=False, display_name="by hand")
    assert third.display_name == "by hand"
    third.fail(error_details="the data was wrong", error_code="BadData")
    error = third.get_details()["error"]["error"]
    assert (third.get_status(), error["code"], error["message"]) == ("Failed", "BadData", "the data was wrong")

    with pytest.raises(UserErrorException, match="start_logging\\(outputs=...\\)"):
        exp.start_logging(outputs=3)
    with pytest.raises(UserErrorException, match="snapshot_directory"):
        exp.start_logging(snapshot_directory=str(tmp_path / "missing"))


STARTER = """
import sys, time
from runyard.core import Experiment, Workspace
run = Experiment(Workspace.from_config(), "notebook").start_logging(outputs=False)
run.log("alive", 1)
print(run.id, flush=True)
time.sleep(600)
"""


def test_an_interactive_run_fails_when_the_process_that_started_it_dies(ws, tmp_path):
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    try:
        run_id = starter.stdout.readline().strip()
        run = Run.get(ws, run_id)
        assert run.get_status() == "Running"
    finally:
        starter.kill()
        starter.wait()
    wait_until(lambda: run.get_status() == "Failed", timeout=30, message="the orphaned run to fail")
    assert "ended before calling run.complete()" in run.get_details()["error"]["error"]["message"]
    assert run.get_metrics() == {"alive": 1}


def test_a_script_fails_its_own_run_and_a_client_cannot_end_a_submitted_run(ws, src):
    src.write("train.py", """
        from runyard.core import Run
        run = Run.get_context()
        run.log("seen", 1)
        run.fail(error_details=ValueError("labels missing"), error_code="BadInput")
        print("still exits with 0")
    """)
    run = Experiment(ws, "scripted").submit(ScriptRunConfig(str(src.path), script="train.py"))
    with pytest.raises(UserErrorException, match="submitted run: it ends when its script does"):
        run.complete()
    run.wait_for_completion(raise_on_error=False)
    error = run.get_details()["error"]["error"]
    assert run.get_status() == "Failed"
    assert (error["code"], error["message"]) == ("BadInput", "ValueError: labels missing")
    assert run.get_metrics() == {"seen": 1}
