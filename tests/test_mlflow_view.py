"""What MLflow's UI shows of a run (runs/mlflow_fields.py): a readable display name, the
script's arguments as params, runyard's facts as tags and a failure's reason as the run's
description, read back from the real MLflow store after real runs."""

from __future__ import annotations

import pytest

from conftest import runyard_cli
from runyard.core import Experiment, Run, ScriptRunConfig
from runyard.errors import UserErrorException
from runyard.runs import mlflow_fields
from runyard.stores import tracking


def _mlflow_run(ws, run):
    return tracking.client(ws.tracking_uri).get_run(run._refresh()["mlflow_run_id"])


def test_arguments_become_params_the_way_argparse_reads_them():
    assert mlflow_fields.params(["--epochs", 5, "--learning-rate=0.003", "--verbose", "--shift", "-1.5",
                                 "data.csv", "--epochs", 7]) == {
        "--epochs": "7", "--learning-rate": "0.003", "--verbose": "true", "--shift": "-1.5", "arg6": "data.csv"}
    assert mlflow_fields.params([]) == {}
    assert mlflow_fields.layout({"kind": "tensorflow", "worker_count": 2, "parameter_server_count": 1}) == \
        "TensorFlow: 2 workers, 1 parameter server"
    assert mlflow_fields.layout({"kind": "mpi", "process_count_per_node": 2, "node_count": 1}) == \
        "MPI: 2 processes x 1 node"
    name = mlflow_fields.display_name("digits_1796158232_115a2b3c")
    assert name == mlflow_fields.display_name("digits_1796158232_115a2b3c") and name.count("_") == 2


def test_a_run_shows_its_name_params_status_and_failure_reason_in_mlflow(ws, src):
    src.write("train.py", """
        import argparse, sys
        p = argparse.ArgumentParser()
        p.add_argument("--epochs", type=int)
        p.add_argument("--learning-rate", type=float)
        a = p.parse_args()
        open("missing/data.csv")
    """)
    run = Experiment(ws, "shown").submit(ScriptRunConfig(
        str(src.path), script="train.py", arguments=["--epochs", 5, "--learning-rate", 0.003]))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    shown = _mlflow_run(ws, run)
    assert shown.info.run_name == run.display_name != run.id
    assert shown.data.params == {"--epochs": "5", "--learning-rate": "0.003"}
    tags = shown.data.tags
    assert tags["runyard.status"] == "Failed" and tags["runyard.computeTarget"] == "local"
    assert tags["runyard.distribution"] == "1 process" and tags["runyard.submittedBy"]
    assert tags["runyard.environment"] == "the submitting interpreter"
    description = tags["mlflow.note.content"]
    assert "Failed" in description and "FileNotFoundError" in description, description
    assert "missing/data.csv" in description
    assert description.endswith(mlflow_fields.page_link(run.id))  # the reason first, then the link

    run.display_name = "first try"
    assert run.display_name == "first try" == Run.get(ws, run.id).display_name == run.name
    assert _mlflow_run(ws, run).info.run_name == "first try"
    with pytest.raises(UserErrorException, match="display_name"):
        run.display_name = "  "


def test_runyard_run_names_the_run_and_a_completed_run_says_so(ws, src):
    src.write("ok.py", "print('fine')\n")
    result = runyard_cli("run", "--name", "baseline", "-e", "named", str(src.path / "ok.py"), "--seed", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    run = next(Experiment(ws, "named").get_runs())
    assert run.display_name == "baseline"
    shown = _mlflow_run(ws, run)
    assert shown.info.run_name == "baseline" and shown.data.params == {"--seed": "3"}
    assert shown.data.tags["runyard.status"] == "Completed"
    description = shown.data.tags["mlflow.note.content"]  # the link to its page, nothing else
    assert description == mlflow_fields.page_link(run.id) and f"](/runyard/runs/{run.id})" in description
    refused = runyard_cli("run", "--name", " ", str(src.path / "ok.py"))
    assert refused.returncode != 0 and "--name needs some text" in refused.stderr
