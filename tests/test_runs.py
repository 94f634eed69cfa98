"""Submitting real scripts and reading back what they produced."""

import json

import pytest

from runyard.core import Experiment, Run, ScriptRunConfig

LOGGING_SCRIPT = """
import argparse, json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from runyard.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--lr", type=float)
args = parser.parse_args()
run = Run.get_context()
for epoch in range(args.epochs):
    run.log("loss", 1.0 / (epoch + 1))
run.log("lr", args.lr)
run.log("note", "converged")
run.log_list("sizes", [1, 2, 3])
run.log_row("per_class", label=0, recall=0.5)
run.log_row("per_class", label=1, recall=0.75)
run.log_table("confusion", {"pred": [0, 1], "count": [5, 7]})
plt.plot([1, 2, 3])
run.log_image("curve", plot=plt)
run.log_image(name="acc.png", plot=plt)
with open("report.txt", "w") as fh:
    fh.write("report")
run.upload_file("extra/report.txt", "report.txt")
run.tag("framework", "keras")
run.add_properties({"dataset": "digits"})
import os
os.makedirs("outputs/model/variables", exist_ok=True)
open("outputs/model/saved_model.pb", "w").write("pb")
open("outputs/model/variables/variables.index", "w").write("idx")
open("logs/train.log", "w").write("epoch log")
print("trained", args.epochs, "epochs")
"""


def test_script_run_end_to_end(ws, src, tmp_path):
    src.write("train.py", LOGGING_SCRIPT)
    exp = Experiment(ws, "digits")
    run = exp.submit(ScriptRunConfig(source_directory=str(src.path), script="train.py",
                                     arguments=["--epochs", 3, "--lr", 0.01]), tags={"team": "a"})
    assert run.get_status() in {"Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed"}
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    assert details["runDefinition"]["arguments"] == ["--epochs", "3", "--lr", "0.01"]

    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert metrics["lr"] == 0.01
    assert metrics["note"] == "converged"
    assert metrics["sizes"] == [1, 2, 3]
    assert metrics["per_class"] == {"label": [0, 1], "recall": [0.5, 0.75]}
    assert metrics["confusion"] == {"pred": [0, 1], "count": [5, 7]}
    assert metrics["curve"] == "images/curve.png"
    assert metrics["acc.png"] == "images/acc.png"  # not acc.png.png
    assert run.get_metrics("lr") == {"lr": 0.01}

    files = run.get_file_names()
    for expected in ("outputs/model/saved_model.pb", "outputs/model/variables/variables.index",
                     "logs/train.log", "user_logs/std_log.txt", "images/curve.png",
                     "extra/report.txt", "system_logs/supervisor.log"):
        assert expected in files
    assert run.tags == {"team": "a", "framework": "keras"}
    assert run.properties["dataset"] == "digits"

    run.download_files(prefix="outputs/model", output_directory=str(tmp_path / "model"),
                       append_prefix=False)
    assert (tmp_path / "model" / "saved_model.pb").read_text() == "pb"
    assert (tmp_path / "model" / "variables" / "variables.index").read_text() == "idx"
    run.download_files(prefix="outputs", output_directory=str(tmp_path / "all"))
    assert (tmp_path / "all" / "outputs" / "model" / "saved_model.pb").exists()
    run.download_file("user_logs/std_log.txt", str(tmp_path / "std_log.txt"))
    assert "trained 3 epochs" in (tmp_path / "std_log.txt").read_text()

    again = Run(exp, run.id)
    assert again.get_status() == "Completed"
    assert [r.id for r in exp.get_runs()] == [run.id]
    assert list(ws.experiments) == ["digits"]
    assert not (ws.runs_dir / run.id / "wd").exists()  # the working copy is cleaned up


def test_wait_with_show_output_streams_then_summarises(ws, src, capsys):
    src.write("hello.py", """
        from runyard.core import Run
        print("hello from the job")
        Run.get_context().log("acc", 0.9)
    """)
    run = Experiment(ws, "hello").submit(ScriptRunConfig(str(src.path), script="hello.py"))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert out.index("Streaming user_logs/std_log.txt") < out.index("hello from the job") \
        < out.index("Execution Summary")
    assert f"RunId: {run.id}" in out and "Status: Completed" in out and "acc: 0.9" in out


def test_mlflow_calls_in_the_job_land_in_the_same_run(ws, src):
    src.write("uses_mlflow.py", """
        import mlflow
        from runyard.core import Run
        mlflow.log_metric("mlflow_metric", 1.5)
        mlflow.log_param("batch_size", 64)
        Run.get_context().log("runyard_metric", 2.5)
    """)
    run = Experiment(ws, "mix").submit(ScriptRunConfig(str(src.path), script="uses_mlflow.py"))
    run.wait_for_completion()
    metrics = run.get_metrics()
    assert metrics["mlflow_metric"] == 1.5 and metrics["runyard_metric"] == 2.5
    from runyard.stores import tracking

    mlflow_run = tracking.client(ws.tracking_uri).get_run(run._record["mlflow_run_id"])
    assert mlflow_run.data.params == {"batch_size": "64"}
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.info.run_name == run.display_name


def test_command_instead_of_script(ws, src):
    src.write("data.txt", "42")
    run = Experiment(ws, "cmd").submit(ScriptRunConfig(str(src.path), command=["cat", "data.txt"]))
    run.wait_for_completion()
    assert (ws.runs_dir / run.id / "user_logs" / "std_log.txt").read_text() == "42"


def test_logging_to_an_ended_run_from_the_client(ws, src):
    src.write("noop.py", "print('ok')")
    run = Experiment(ws, "late").submit(ScriptRunConfig(str(src.path), script="noop.py"))
    run.wait_for_completion()
    run.log("evaluated_acc", 0.88)
    run.tag("reviewed", "yes")
    assert run.get_metrics()["evaluated_acc"] == 0.88
    assert run.tags["reviewed"] == "yes"


def test_get_details_json_serialisable(ws, src):
    src.write("noop.py", "print('ok')")
    run = Experiment(ws, "details").submit(ScriptRunConfig(str(src.path), script="noop.py"))
    details = run.wait_for_completion()
    json.dumps(details)
    assert details["runId"] == run.id and details["target"] == "local"
    assert details["startTimeUtc"] and details["endTimeUtc"]
    assert details["properties"]["runyard.snapshotId"] == run.get_snapshot_id()
