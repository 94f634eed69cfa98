"""Real TensorFlow jobs: the demo digit classifier, and mlflow.autolog() inside a job."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, runyard_cli
from runyard.core import Experiment, Run, ScriptRunConfig

pytestmark = pytest.mark.tensorflow

DEMO = REPO / "examples" / "digits"


def test_demo_trains_through_the_cli_and_saves_a_savedmodel(ws, tmp_path):
    project = tmp_path / "digits"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    subprocess.run([sys.executable, str(project / "make_data.py"), str(project / "data")],
                   check=True, capture_output=True)
    result = runyard_cli("run", "-e", "digits", str(project / "tf_mnist.py"), "--epochs", "4",
                         "--batch-size", "32")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Test accuracy" in result.stdout and "Execution Summary" in result.stdout
    run = next(Experiment(ws, "digits").get_runs())
    metrics = run.get_metrics()
    assert len(metrics["training_acc"]) == 4 and len(metrics["validation_acc"]) == 4
    assert metrics["final_acc"] > 0.8  # real digits, really learned
    files = run.get_file_names()
    assert "outputs/model/saved_model.pb" in files
    assert "images/Accuracy vs Loss.png" in files

    model_dir = tmp_path / "model"
    run.download_files(prefix="outputs/model", output_directory=str(model_dir), append_prefix=False)
    check = ("import sys, numpy as np, tensorflow as tf\n"
             "m = tf.saved_model.load(sys.argv[1])\n"
             "out = m.signatures['serving_default'](pixels=tf.zeros((2, 784)))\n"
             "print(list(out.values())[0].shape)")
    loaded = subprocess.run([sys.executable, "-c", check, str(model_dir)], capture_output=True,
                            text=True, check=True)
    assert loaded.stdout.strip().endswith("(2, 10)")


def test_mlflow_autolog_in_a_job_records_into_the_run(ws, src):
    src.write("autolog.py", """
        import mlflow, numpy as np
        mlflow.autolog(log_models=False)
        import tensorflow as tf
        x = np.random.rand(64, 4).astype("float32")
        y = (x.sum(1) > 2).astype("int32")
        model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=3, verbose=0)
    """)
    run = Experiment(ws, "autolog").submit(ScriptRunConfig(str(src.path), script="autolog.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    metrics = Run.get(ws, run.id).get_metrics()
    assert len(metrics["loss"]) == 3 and len(metrics["accuracy"]) == 3


def test_demo_in_the_curated_tensorflow_environment(ws, tmp_path):
    project = tmp_path / "digits"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    subprocess.run([sys.executable, str(project / "make_data.py"), str(project / "data")],
                   check=True, capture_output=True)
    (project / "versions.py").write_text(
        "import tensorflow as tf, tf_keras, sklearn\nprint('tf', tf.__version__, 'tf_keras', tf_keras.__version__)\n")
    from runyard.core import Environment

    env = Environment.get(ws, "runyard-tensorflow-2.21-cpu")
    versions = Experiment(ws, "curated").submit(
        ScriptRunConfig(str(project), script="versions.py", environment=env))
    assert versions.wait_for_completion()["status"] == "Completed"
    assert "tf 2.21.0 tf_keras 2.21.0" in versions._paths.std_log.read_text()
    result = runyard_cli("run", "--env", "runyard-tensorflow-2.21-cpu", "-e", "curated",
                         str(project / "tf_mnist.py"), "--epochs", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "reusing cached environment" in result.stdout
    run = next(Experiment(ws, "curated").get_runs())
    assert "outputs/model/saved_model.pb" in run.get_file_names()
    assert len(run.get_metrics()["training_acc"]) == 2


def test_the_demo_sweep_tunes_the_digit_classifier_and_serves_the_best_trial(tmp_path):
    """examples/digits/sweep.py, as scripts/demo.sh runs it (fewer epochs): a TensorFlow sweep
    end to end, then the best trial's model registered, served and scored."""
    project = tmp_path / "digits"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    subprocess.run([sys.executable, str(project / "make_data.py"), str(project / "data")],
                   check=True, capture_output=True)
    result = subprocess.run([sys.executable, "sweep.py", "--trials", "3", "--epochs", "2"],
                            cwd=project, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Best trial: HD_" in result.stdout and "of 30 test digits right" in result.stdout
    from runyard.core import Workspace

    sweep = next(Experiment(Workspace.from_config(), "digits-sweep").get_runs())
    children = sweep.get_children()
    assert len(children) == 3 and sweep.get_status() == "Completed"
    assert all(json.loads(v)["--first-layer-neurons"] in (32, 64, 128) for v in sweep.get_hyperparameters().values())
    best = sweep.get_best_run_by_primary_metric()
    assert f"Registered model tf-mnist-tuned version 1 from run {best.id}" in result.stdout
