"""The small v1 names Azure's sample notebooks call, called as a notebook calls them."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import runyard
from runyard.core import Experiment, ScriptRunConfig


def test_version_telemetry_and_runconfig_names():
    from runyard.core import VERSION
    from runyard.core.runconfig import CondaDependencies, DockerConfiguration, RunConfiguration
    from runyard.telemetry import set_diagnostics_collection

    print("SDK version:", VERSION)  # (the first cell of 6 of 7 notebooks)
    assert VERSION == runyard.__version__
    assert set_diagnostics_collection(send_diagnostics=True) is None  # nothing is sent anywhere
    assert list(CondaDependencies.create(pip_packages=["six"]).pip_packages) == ["six"]
    assert DockerConfiguration(use_docker=True).use_docker is True
    assert RunConfiguration().docker is None


def test_a_run_asking_for_docker_runs_without_a_container_saying_so_once(ws, src):
    from runyard.core.runconfig import DockerConfiguration

    src.write("train.py", "print('trained')\n")
    config = ScriptRunConfig(str(src.path), script="train.py", docker_runtime_config=DockerConfiguration(use_docker=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Experiment(ws, "docker").submit(config)
    said = [str(w.message) for w in caught if "container" in str(w.message)]
    assert len(said) == 1 and "DockerConfiguration(use_docker=True) is noted" in said[0]
    assert run.wait_for_completion()["status"] == "Completed"


def test_the_workspace_cell_of_the_notebooks_and_its_dicts(ws, tmp_path, capsys):
    from runyard.core import Model, Workspace

    print("Workspace name: " + ws.name, "Azure region: " + ws.location, "Subscription id: " + ws.subscription_id,
          "Resource group: " + ws.resource_group, sep="\n")
    assert f"Azure region: {ws.folder}" in capsys.readouterr().out
    assert (ws.subscription_id, ws.resource_group) == ("local", "local")
    assert Workspace("0000-sub", "my-rg", ws.name).subscription_id == "0000-sub"  # v1's positional form
    details = ws.get_details()
    assert details["name"] == ws.name and details["location"] == ws.location
    for name, target in ws.compute_targets.items():  # the notebooks' loop over the compute
        print(name, target.type, target.provisioning_state)
    assert "local local Succeeded" in capsys.readouterr().out
    (tmp_path / "w.json").write_text("{}")
    Model.register(ws, str(tmp_path / "w.json"), "w")
    Model.register(ws, str(tmp_path / "w.json"), "w")
    assert {name: m.version for name, m in ws.models.items()} == {"w": 2}
    assert ws.webservices == {} and "workspaceblobstore" in ws.datastores and ws.datasets == {}
    assert "runyard-python-3.11-minimal" in ws.environments


def test_azure_curated_names_become_the_nearest_environment_that_installs_here(ws, src):
    from runyard.core import Environment
    from runyard.errors import NotFoundError, UserErrorException

    def resolved(name):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            env = Environment.get(ws, name)
        assert len(caught) == 1, [str(w.message) for w in caught]  # one warning naming the substitution
        cd = env.python.conda_dependencies
        return cd.get_python_version(), list(cd.pip_packages), str(caught[0].message)

    python, pip, said = resolved("AzureML-TensorFlow-2.2-GPU")
    # (a GPU name's tensorflow-gpu becomes the CPU build on a compute without a GPU: plan.py)
    assert (python, pip) == ("3.8", ["tensorflow-gpu==2.2.3", "numpy<1.24", "protobuf<3.21"])
    assert "'AzureML-TensorFlow-2.2-GPU' is built here from PyPI: tensorflow-gpu==2.2.3 on Python 3.8" in said
    assert "It runs on the CPU: the GPU builds of TensorFlow before 2.14 need CUDA" in said
    assert resolved("AzureML-TensorFlow-1.13-CPU")[:2] == ("3.7", ["tensorflow==1.13.2", "numpy<1.24", "protobuf<3.21"])
    assert resolved("AzureML-TensorFlow-2.1-CPU")[:2] == ("3.7", ["tensorflow-cpu==2.1.4", "numpy<1.24", "protobuf<3.21"])
    assert resolved("azureml-tensorflow-2.11-cuda11")[1] == ["tensorflow-gpu==2.11.1", "numpy<1.24"]
    # the Python in a newer name is kept when the release has wheels for it
    assert resolved("AzureML-tensorflow-2.7-ubuntu20.04-py38-cuda11-gpu")[:2] == \
        ("3.8", ["tensorflow-gpu==2.7.4", "numpy<1.24", "protobuf<3.21"])
    python, pip, said = resolved("AzureML-tensorflow-3.4-cuda13")
    assert pip == ["tensorflow-gpu==2.21.0"] and "nearest release to 3.4" in said
    assert "with its CUDA libraries (tensorflow[and-cuda])" in said
    assert resolved("AzureML-Minimal")[1] == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = Environment.get(ws, "AzureML-TensorFlow-2.2-GPU", version="38")  # Azure's image versions
    env.python.conda_dependencies.add_pip_package("pandas")
    src.write("t.py", "")
    with pytest.raises(UserErrorException, match="curated environment 'AzureML-TensorFlow-2.2-GPU' was modified"):
        Experiment(ws, "curated").submit(ScriptRunConfig(str(src.path), script="t.py", environment=env))
    with pytest.raises(NotFoundError) as refused:
        Environment.get(ws, "AzureML-PyTorch-1.6-GPU")
    assert "AzureML-TensorFlow-2.2-GPU" in str(refused.value) and "runyard-tensorflow-2.21-cpu" in str(refused.value)


def test_tensorflow_packages_pin_v1s_default_where_it_installs():
    from runyard.core.conda_dependencies import CondaDependencies
    from runyard.train.dnn import TensorFlow

    cd = CondaDependencies.create(python_version="3.8")
    cd.add_tensorflow_conda_package()  # v1 pinned 2.2.0, which has wheels for 3.8
    assert list(cd.pip_packages) == ["tensorflow-cpu==2.2.0", "numpy<1.24", "protobuf<3.21"]
    cd = CondaDependencies.create(python_version="3.11")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cd.add_tensorflow_pip_package()
    assert list(cd.pip_packages) == ["tensorflow-cpu==2.12.1"]
    assert "v1's default TensorFlow 2.2.0 has no build for Python 3.11: adding tensorflow-cpu==2.12.1" in str(caught[0].message)
    cd = CondaDependencies.create(python_version="3.12")
    cd.add_tensorflow_pip_package(core_type="gpu", version="2.16.1")
    assert list(cd.pip_packages) == ["tensorflow==2.16.1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = TensorFlow(".", entry_script="train.py", framework_version="1.13")
    cd = estimator._environment().python.conda_dependencies
    assert cd.get_python_version() == "3.7" and "tensorflow==1.13.2" in list(cd.pip_packages)


@pytest.mark.tensorflow
def test_notebooks_on_azures_tensorflow_2_2_and_1_13_environments_train_here(ws, src):
    """The seed page's AzureML-TensorFlow-2.2-GPU (Keras) and the parameter-server sample's
    AzureML-TensorFlow-1.13 (a TF 1.x session) built and run for real, side by side."""
    from runyard.core import Environment

    src.write("keras_train.py", """
        import sys
        import numpy as np
        import tensorflow as tf
        from runyard.core import Run
        run = Run.get_context()
        x = np.random.RandomState(0).rand(256, 8).astype("float32")
        y = (x.sum(axis=1) > 4).astype("int32")
        model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu", input_shape=(8,)),
                                     tf.keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, verbose=0)
        run.log("final_acc", float(history.history["accuracy"][-1]))
        run.tag("versions", "%d.%d tf %s" % (sys.version_info[0], sys.version_info[1], tf.__version__))
    """)
    src.write("session_train.py", """
        import sys
        import tensorflow as tf
        from runyard.core import Run
        run = Run.get_context()
        total = tf.reduce_sum(tf.constant([1.0, 2.0, 3.0]))
        with tf.Session() as session:   # TensorFlow 1.x
            run.log("total", float(session.run(total)))
        run.tag("versions", "%d.%d tf %s" % (sys.version_info[0], sys.version_info[1], tf.__version__))
    """)
    runs = []
    for name, script in (("AzureML-TensorFlow-2.2-GPU", "keras_train.py"), ("AzureML-TensorFlow-1.13-CPU", "session_train.py")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = Environment.get(workspace=ws, name=name)
        config = ScriptRunConfig(source_directory=str(src.path), script=script, environment=env)
        runs.append(Experiment(ws, "azure-curated").submit(config))
    keras_run, session_run = runs
    for run in runs:
        run.wait_for_completion(raise_on_error=False)
        assert run.get_status() == "Completed", run._paths.std_log.read_text()
    assert keras_run.get_tags()["versions"] == "3.8 tf 2.2.3"
    assert 0 <= keras_run.get_metrics()["final_acc"] <= 1
    assert session_run.get_tags()["versions"] == "3.7 tf 1.13.2"
    assert session_run.get_metrics()["total"] == 6.0


def test_a_runs_outputs_are_the_next_runs_input_as_in_the_resume_training_sample(ws, src, tmp_path):
    """run._get_outputs_datapath() given back as resume_from (MODEL_LOCATION, --resume-from),
    as a DataPathComputeBinding data reference in run_config.data_references with str(reference)
    in the arguments, and a datastore DataReference among the arguments."""
    from runyard.core import Datastore
    from runyard.core.runconfig import DataReferenceConfiguration
    from runyard.data.data_reference import DataReference
    from runyard.data.datapath import DataPath, DataPathComputeBinding
    from runyard.errors import UserErrorException

    src.write("train.py", """
        import argparse, os
        from runyard.core import Run
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int)
        parser.add_argument("--resume-from", default=None)
        parser.add_argument("--extra", default=None)
        args = parser.parse_args()
        run = Run.get_context()
        start = 0
        if args.resume_from:
            with open(os.path.join(args.resume_from, "checkpoint", "epoch.txt")) as f:
                start = int(f.read())
            run.tag("resumed_in", os.path.relpath(args.resume_from, os.getcwd()))
        if args.extra:
            with open(os.path.join(args.extra, "note.txt")) as f:
                run.tag("extra", f.read())
        os.makedirs("outputs/checkpoint", exist_ok=True)
        with open("outputs/checkpoint/epoch.txt", "w") as f:
            f.write(str(args.epochs))
        run.log("start_epoch", start)
    """)
    experiment = Experiment(ws, "resume")
    first = experiment.submit(ScriptRunConfig(str(src.path), script="train.py", arguments=["--epochs", 2]))
    assert first.wait_for_completion()["status"] == "Completed"
    model_location = first._get_outputs_datapath()
    assert isinstance(model_location, DataPath)
    assert (model_location.datastore.name, model_location.path_on_datastore) == \
        ("workspaceartifactstore", f"ExperimentRun/dcid.{first.id}/outputs")

    resumed = experiment.submit(ScriptRunConfig(str(src.path), script="train.py", arguments=["--epochs", 4],
                                                resume_from=model_location))
    assert resumed.wait_for_completion()["status"] == "Completed"
    assert resumed.get_metrics()["start_epoch"] == 2
    assert resumed.get_tags()["resumed_in"].endswith("MODEL_LOCATION")

    (tmp_path / "note.txt").write_text("from the datastore")
    store = Datastore.get(ws, "workspaceblobstore")
    store.upload_files([str(tmp_path / "note.txt")], target_path="notes", show_progress=False)
    reference = resumed._get_outputs_datapath().create_data_reference(
        "checkpoints", DataPathComputeBinding(mode="download"))
    notes = DataReference(datastore=store, data_reference_name="notes", path_on_datastore="notes")
    config = ScriptRunConfig(str(src.path), script="train.py",
                             arguments=["--epochs", 6, "--resume-from", str(reference), "--extra", notes])
    config.run_config.data_references = {reference.data_reference_name: reference.to_config()}
    third = experiment.submit(config)
    assert third.wait_for_completion()["status"] == "Completed"
    assert third.get_metrics()["start_epoch"] == 4
    assert third.get_tags()["extra"] == "from the datastore"

    with pytest.raises(UserErrorException, match="resume_from takes a DataPath"):
        ScriptRunConfig(str(src.path), script="train.py", resume_from="outputs")
    unknown = ScriptRunConfig(str(src.path), script="train.py", arguments=["--resume-from", "$AZUREML_DATAREFERENCE_nope"])
    with pytest.raises(UserErrorException, match="names a data reference that run_config.data_references"):
        experiment.submit(unknown)
    empty = ScriptRunConfig(str(src.path), script="train.py")
    empty.run_config.data_references = {"logs": DataReferenceConfiguration(
        "workspaceartifactstore", path_on_datastore=f"ExperimentRun/dcid.{first.id}/nothing-here")}
    with pytest.raises(UserErrorException, match=f"Run {first.id} has no files under nothing-here/"):
        experiment.submit(empty)


def test_azureml_mlflow_in_an_environment_installs_mlflows_client_for_the_script(ws, src):
    from runyard.core import Environment
    from runyard.core.conda_dependencies import CondaDependencies

    src.write("log.py", """
        import mlflow
        mlflow.log_metric("rmse", 0.25)
        mlflow.log_param("alpha", "0.1")
        print("mlflow", mlflow.__version__)
    """)
    env = Environment("with-azureml-mlflow")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["azureml-defaults", "azureml-mlflow"], python_version="3.11")
    run = Experiment(ws, "mlflow-client").submit(ScriptRunConfig(str(src.path), script="log.py", environment=env))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Completed", run._paths.std_log.read_text()
    import mlflow

    assert run.get_metrics()["rmse"] == 0.25
    assert f"mlflow {mlflow.__version__}" in run._paths.std_log.read_text()  # the workspace's version
    assert f"azureml-mlflow -> mlflow-skinny=={mlflow.__version__}" in run._paths.preparing_log.read_text()


@pytest.mark.tensorflow
def test_mlflows_deploy_flow_and_cli_serve_a_workspaces_model(ws, src, tmp_path):
    """The keras auto-logging notebook's last cells: get_deploy_client(ws.get_mlflow_tracking_uri()),
    create_deployment from models:/name/version with a deploy-config.json, predict, update from
    runs:/<MLflow run id>/path, list and get (also through `mlflow deployments`), delete."""
    import mlflow
    from mlflow.deployments import get_deploy_client

    src.write("train.py", """
        import mlflow, numpy as np, tensorflow as tf
        from runyard.core import Run
        x = np.random.RandomState(0).rand(64, 4).astype("float32")
        model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
        model.compile("adam", "mse")
        model.fit(x, x[:, :2], epochs=1, verbose=0)
        mlflow.tensorflow.save_model(model, "outputs/model")   # an MLflow model folder
    """)
    run = Experiment(ws, "mlflow-deploy").submit(ScriptRunConfig(str(src.path), script="train.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    model = run.register_model(model_name="keras-mlflow", model_path="outputs/model")

    config_path = tmp_path / "deploy-config.json"
    config_path.write_text(json.dumps({"computeType": "aci", "containerResourceRequirements": {"cpu": 1, "memoryInGB": 1}}))
    client = get_deploy_client(ws.get_mlflow_tracking_uri())
    try:
        created = client.create_deployment(name="keras-svc", model_uri=f"models:/{model.name}/{model.version}",
                                           config={"deploy-config-file": str(config_path)})
        assert created["state"] == "Healthy" and created["models"] == ["keras-mlflow:1"]
        rows = [[0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1]]
        predictions = client.predict("keras-svc", {"instances": rows})
        assert len(predictions["predictions"]) == 2 and len(predictions["predictions"][0]) == 2

        mlflow_run_id = run.get_details()["properties"]["mlflow.runId"]
        updated = client.update_deployment("keras-svc", model_uri=f"runs:/{mlflow_run_id}/outputs/model")
        assert updated["models"] == ["model:1"]  # registered from the run's folder first
        assert client.predict("keras-svc", rows)["predictions"] == predictions["predictions"]
        assert [d["name"] for d in client.list_deployments()] == ["keras-svc"]

        listed = subprocess.run([str(Path(sys.executable).parent / "mlflow"), "deployments", "get", "-t", "runyard",
                                 "--name", "keras-svc"], capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0 and "keras-svc" in listed.stdout, listed.stderr[-2000:]
        client.delete_deployment("keras-svc")
        assert client.list_deployments() == []
    finally:  # a failed check must not leave the endpoint's server running
        for left in client.list_deployments():
            client.delete_deployment(left["name"])
    with pytest.raises(mlflow.exceptions.MlflowException, match="not a runyard workspace"):
        get_deploy_client(f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}")
