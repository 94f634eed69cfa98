"""Model registry: versions per name (also under concurrency), files from runs and local
paths, the MLflow model registry mirror, downloads, filters, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import runyard_cli
from runyard.core import Experiment, Model, ScriptRunConfig
from runyard.core.resource_configuration import ResourceConfiguration
from runyard.errors import ModelNotFoundException, UserErrorException

WRITE_MODEL = """
import json, os
os.makedirs("outputs/model/variables", exist_ok=True)
json.dump({"weights": [1, 2, 3]}, open("outputs/model/weights.json", "w"))
open("outputs/model/variables/data", "w").write("x" * 100)
open("outputs/notes.txt", "w").write("not a model")
"""


@pytest.fixture
def finished_run(ws, src):
    src.write("train.py", WRITE_MODEL)
    run = Experiment(ws, "models").submit(ScriptRunConfig(str(src.path), script="train.py"))
    run.wait_for_completion()
    return run


def _mlflow_versions(ws, name):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=ws.tracking_uri)
    return sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))


def test_register_from_a_run_versions_download_and_mlflow_mirror(ws, finished_run, tmp_path):
    run = finished_run
    model = run.register_model(model_name="tf-mnist", model_path="outputs/model",
                               model_framework=Model.Framework.TENSORFLOW,
                               model_framework_version="2.0", tags={"team": "vision"},
                               resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))
    assert (model.name, model.version, model.id) == ("tf-mnist", 1, "tf-mnist:1")
    assert model.model_framework == "TensorFlow" and model.model_framework_version == "2.0"
    assert model.resource_configuration == ResourceConfiguration(cpu=1, memory_in_gb=0.5)
    assert model.run_id == run.id
    assert sorted(p.relative_to(model.url).as_posix() for p in Path(model.url).rglob("*") if p.is_file()) \
        == ["variables/data", "weights.json"]

    second = run.register_model("tf-mnist", "outputs/model", tags={"team": "vision", "stage": "prod"})
    assert second.version == 2
    assert Model(ws, "tf-mnist").version == 2  # name alone: the latest
    assert Model(ws, "tf-mnist", version=1).tags == {"team": "vision"}
    assert Model(ws, id="tf-mnist:1").version == 1
    assert [m.id for m in Model.list(ws, name="tf-mnist")] == ["tf-mnist:2", "tf-mnist:1"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "prod"]])] == ["tf-mnist:2"]
    assert [m.id for m in Model.list(ws, tags=["team"], latest=True)] == ["tf-mnist:2"]
    assert [m.id for m in Model.list(ws, model_framework="tensorflow")] == ["tf-mnist:1"]
    assert [m.id for m in Model.list(ws, run_id=run.id)] == ["tf-mnist:2", "tf-mnist:1"]

    # Every version is in MLflow's model registry, linked to the run, same numbers.
    versions = _mlflow_versions(ws, "tf-mnist")
    assert [str(v.version) for v in versions] == ["1", "2"]
    assert versions[0].run_id == run._record["mlflow_run_id"]
    assert versions[0].tags["runyard.framework"] == "TensorFlow"
    # MLflow's source is the version's folder: the model and an MLmodel describing it (no schema:
    # this folder is no SavedModel), with a description linking to the version's runyard page.
    assert versions[0].source == Path(Model(ws, "tf-mnist", version=1).url).parent.as_uri()
    assert "signature" not in json.loads(Path(Model(ws, "tf-mnist", version=1).url).parent.joinpath("MLmodel").read_text())
    assert versions[0].description.endswith("(/runyard/models/tf-mnist/1)")

    # The seed page's download, and model.download (refusing to overwrite by default).
    os.makedirs("./model", exist_ok=True)
    run.download_files(prefix="outputs/model", output_directory="./model", append_prefix=False)
    assert json.loads(Path("model/weights.json").read_text()) == {"weights": [1, 2, 3]}
    path = model.download(target_dir=str(tmp_path / "dl"))
    assert Path(path, "weights.json").is_file() and Path(path).name == "model"
    with pytest.raises(UserErrorException, match="exist_ok=True"):
        model.download(target_dir=str(tmp_path / "dl"))
    model.download(target_dir=str(tmp_path / "dl"), exist_ok=True)
    assert Model.get_model_path("tf-mnist", version=1, _workspace=ws) == Model(ws, "tf-mnist", version=1).url

    # A single file registers too, and tags change in both registries.
    notes = run.register_model("notes", "outputs/notes.txt")
    assert Path(notes.url).read_text() == "not a model"
    second.add_tags({"owner": "ana"})
    second.remove_tags("stage")
    assert Model(ws, "tf-mnist").tags == {"team": "vision", "owner": "ana"}
    assert _mlflow_versions(ws, "tf-mnist")[1].tags.get("owner") == "ana"
    assert "stage" not in _mlflow_versions(ws, "tf-mnist")[1].tags
    second.delete()
    assert [str(v.version) for v in _mlflow_versions(ws, "tf-mnist")] == ["1"]
    assert Model(ws, "tf-mnist").version == 1


def test_registration_errors_are_clear(ws, finished_run, tmp_path):
    with pytest.raises(UserErrorException, match=r"'outputs/modle' is not in the artifacts.*outputs"):
        finished_run.register_model("m", "outputs/modle")
    with pytest.raises(UserErrorException, match="Unknown model_framework.*TensorFlow, ScikitLearn"):
        finished_run.register_model("m", "outputs/model", model_framework="Tensorflo")
    with pytest.raises(UserErrorException, match="A model name"):
        finished_run.register_model("bad name!", "outputs/model")
    with pytest.raises(UserErrorException, match="does not exist"):
        Model.register(ws, model_path=str(tmp_path / "missing"), model_name="m")
    with pytest.raises(UserErrorException, match="ResourceConfiguration"):
        ResourceConfiguration(cpu=-1)
    with pytest.raises(ModelNotFoundException, match="No model 'nope'.*Registered models: none"):
        Model(ws, "nope")
    finished_run.register_model("exists", "outputs/model")
    with pytest.raises(ModelNotFoundException, match="version 5"):
        Model(ws, "exists", version=5)
    assert not list((ws.folder / "models").glob("m/*"))  # nothing half-registered
    assert not list((ws.folder / "models" / ".staging").iterdir())


def test_local_registration_child_paths_and_get_model_path(ws, tmp_path, monkeypatch):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    (folder / "big.bin").write_bytes(b"0" * 1000)
    model = Model.register(ws, model_path=str(folder), model_name="local", description="two files",
                           properties={"accuracy": 0.9}, child_paths=["a.txt", "sub/b.txt"])
    assert sorted(p.name for p in Path(model.url).rglob("*") if p.is_file()) == ["a.txt", "b.txt"]
    assert model.description == "two files" and model.properties == {"accuracy": "0.9"}
    with pytest.raises(UserErrorException, match="cannot be changed"):
        model.add_properties({"accuracy": "0.1"})

    # In a deployment, get_model_path answers from the deployed models; else from the workspace.
    monkeypatch.chdir(ws.folder.parent)
    ws.write_config(".")
    assert Model.get_model_path("local") == model.url
    monkeypatch.setenv("RUNYARD_DEPLOYED_MODELS", json.dumps([{"name": "local", "version": 1, "path": "/srv/x"}]))
    assert Model.get_model_path("local") == "/srv/x"
    with pytest.raises(ModelNotFoundException, match="Deployed: local:1"):
        Model.get_model_path("other")


REGISTER = """
import sys
from runyard.core import Model, Workspace
ws = Workspace.from_config()
print(Model.register(ws, model_path=sys.argv[1], model_name="race").version)
"""


def test_concurrent_registrations_get_distinct_consecutive_versions(ws, tmp_path):
    (tmp_path / "m.txt").write_text("weights")
    script = tmp_path / "register.py"
    script.write_text(REGISTER)
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "m.txt")],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    versions = sorted(int(p.communicate(timeout=300)[0].strip()) for p in procs)
    assert versions == [1, 2, 3, 4]
    assert [m.version for m in Model.list(ws, name="race")] == [4, 3, 2, 1]
    assert [str(v.version) for v in _mlflow_versions(ws, "race")] == ["1", "2", "3", "4"]


def test_model_cli(ws, finished_run, tmp_path):
    result = runyard_cli("model", "register", "cli-model", "outputs/model", "--run", finished_run.id,
                         "--framework", "TensorFlow", "--tag", "k=v", "--cpu", "1", check=True)
    assert "Registered model 'cli-model' version 1" in result.stdout
    listed = json.loads(runyard_cli("model", "list", "--json", check=True).stdout)
    assert [(m["name"], m["version"], m["framework"]) for m in listed] == [("cli-model", 1, "TensorFlow")]
    assert listed[0]["resourceConfiguration"]["cpu"] == 1
    runyard_cli("model", "download", "cli-model:1", str(tmp_path / "out"), check=True)
    assert (tmp_path / "out" / "model" / "weights.json").is_file()
    again = runyard_cli("model", "download", "cli-model", str(tmp_path / "out"))
    assert again.returncode == 2 and "exist-ok" in again.stderr.replace("exist_ok", "exist-ok")
    missing = runyard_cli("model", "show", "nope")
    assert missing.returncode == 2 and "No model 'nope'" in missing.stderr


@pytest.mark.tensorflow
def test_a_tensorflow_models_schema_reaches_mlflow_read_without_tensorflow(ws, tf_models):
    """The schema MLflow's model page shows comes from the SavedModel's own signature (read here
    without TensorFlow) and MLflow's own MLmodel parser accepts it."""
    from urllib.parse import urlparse

    from mlflow.models import Model as MlflowModel

    def schema(name, path, framework):
        model = Model.register(ws, str(tf_models / path), name, model_framework=framework,
                               description="digits classifier")
        version = _mlflow_versions(ws, name)[-1]
        assert version.description.startswith("digits classifier\n\n")
        signature = MlflowModel.load(urlparse(version.source).path).signature
        return signature.inputs.to_dict(), signature.outputs.to_dict() if signature.outputs else None, model

    def tensor(name, dtype, shape):
        return {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": tuple(shape)}, "name": name}

    inputs, outputs, model = schema("linear", "linear-v1", "TensorFlow")
    assert inputs == [tensor("x", "float32", [-1, 4])] and outputs == [tensor("output_0", "float32", [-1, 2])]
    assert Path(model.url).name == "linear-v1" and (Path(model.url) / "saved_model.pb").is_file()
    inputs, outputs, _ = schema("multi", "multi", "TensorFlow")
    assert inputs == [tensor("a", "float32", [-1, 2]), tensor("b", "int32", [-1])]
    assert outputs == [tensor("doubled", "int32", [-1]), tensor("total", "float32", [-1])]
    inputs, outputs, _ = schema("keras-linear", "linear.keras", "TfKeras")
    assert inputs == [tensor("x", "float32", [-1, 4])] and outputs is None
