"""Endpoints: no-code TensorFlow serving over real HTTP (TensorFlow Serving's REST API, bad
requests, keys, batching, updates without dropped requests, crash and restart), entry-script
deployments in their own environment, failures, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import pid_alive, runyard_cli, wait_until
from data_servers import free_port
from runyard.core import Environment, Model
from runyard.core.conda_dependencies import CondaDependencies
from runyard.core.model import InferenceConfig
from runyard.core.webservice import AciWebservice, LocalWebservice, Webservice
from runyard.errors import UserErrorException, WebserviceException


def linear(rows, scale):
    return (np.asarray(rows, dtype=np.float32) @ (np.arange(8).reshape(4, 2) * scale) + [1, -1]).tolist()


@pytest.fixture(autouse=True)
def no_leftover_endpoints(ws):
    """Whatever a test deployed is stopped, even when it failed half-way."""
    yield
    for service in Webservice.list(ws):
        service.delete()


def call(url: str, body=None, key: str | None = None) -> tuple[int, dict | str]:
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def assert_close(got, want):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want), rtol=1e-5)


X = [[1, 2, 3, 4], [0, 0, 0, 1]]


@pytest.mark.tensorflow
def test_tensorflow_serving_rest_api_errors_and_keys(ws, tf_models):
    model = Model.register(ws, str(tf_models / "linear-v1"), "linear",
                           model_framework=Model.Framework.TENSORFLOW, model_framework_version="2.21")
    service = Model.deploy(ws, "linear-svc", [model], deployment_config=AciWebservice.deploy_configuration(
        cpu_cores=1, memory_gb=0.5, auth_enabled=True))
    service.wait_for_deployment(show_output=True)
    assert service.state == "Healthy" and service.compute_type == "ACI"
    assert_close(service.run(json.dumps({"instances": X}))["predictions"], linear(X, 1))

    base, key = f"http://127.0.0.1:{service.port}", service.get_keys()[0]
    assert service.scoring_uri == f"{base}/score"
    assert call(f"{base}/")[0] == 200  # health needs no key
    status, body = call(f"{base}/v1/models/linear", key=key)
    assert status == 200 and body["model_version_status"][0]["version"] == "1"
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = call(f"{base}/v1/models/linear/metadata", key=key)
    x_input = body["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["x"]
    assert x_input["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x_input["tensor_shape"]["dim"]] == ["-1", "4"]
    status, body = call(f"{base}/v1/models/linear:predict", {"inputs": X}, key)
    assert status == 200 and "outputs" in body
    assert_close(body["outputs"], linear(X, 1))
    status, body = call(f"{base}/v1/models/linear/versions/1:predict", {"instances": X[:1]}, key)
    assert status == 200
    assert_close(body["predictions"], linear(X[:1], 1))
    assert call(f"{base}/v1/models/linear/versions/7:predict", {"instances": X}, key)[0] == 404
    assert call(f"{base}/v1/models/other:predict", {"instances": X}, key)[0] == 404

    # Keys: none or a wrong one -> 401; a regenerated key replaces the old one at once.
    assert call(f"{base}/score", {"instances": X})[0] == 401
    assert call(f"{base}/score", {"instances": X}, "wrong")[0] == 401
    old = key
    service.regen_key("Primary")
    new = service.get_keys()[0]
    assert new != old
    assert call(f"{base}/score", {"instances": X}, old)[0] == 401
    assert call(f"{base}/score", {"instances": X}, new)[0] == 200
    assert call(f"{base}/score", {"instances": X}, service.get_keys()[1])[0] == 200

    # Bad requests: 400 with a message that says what is wrong; the server keeps serving.
    bad = [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        ({"instances": X, "inputs": X}, "exactly one"),
        ({"instances": []}, "non-empty list"),
        ({"instances": [[1, 2, 3]]}, "must have shape [-1, 4]"),
        ({"inputs": [1, 2, 3, 4]}, "must have shape [-1, 4]"),
        ({"instances": [["a", "b", "c", "d"]]}, "float values; the request gave strings"),
        ({"instances": [[1, 2], [1, 2, 3, 4]]}, "regular (not ragged)"),
        ({"instances": X, "signature_name": "nope"}, "Serving signature 'nope' not found"),
        ({"instances": X, "extra": 1}, "Unknown request fields: extra"),
        ({"instances": [{"y": [1, 2, 3, 4]}]}, "needs input 'x'"),
    ]
    for body, message in bad:
        status, answer = call(f"{base}/v1/models/linear:predict", body, new)
        assert status == 400, (body, answer)
        assert message in answer["error"], (body, answer)
    with pytest.raises(WebserviceException, match="Status code: 400.*must have shape"):
        service.run({"instances": [[1]]})
    assert_close(service.run({"instances": X})["predictions"], linear(X, 1))

    # An endpoint outlives the process that deployed it: another process finds and uses it.
    script = ("from runyard.core import Workspace; from runyard.core.webservice import Webservice; "
              "s = Webservice(Workspace.from_config(), 'linear-svc'); "
              "print(type(s).__name__, s.state, s.run({'instances': [[0, 0, 0, 0]]}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.startswith("AciWebservice Healthy {'predictions': [[1.0, -1.0]]}")

    pid = service._refresh()["pid"]
    service.delete()
    wait_until(lambda: not pid_alive(pid), 15, message="server stopped")
    with pytest.raises(WebserviceException, match="No service named 'linear-svc'"):
        Webservice(ws, "linear-svc")
    assert not (ws.folder / "endpoints" / "linear-svc").exists()


@pytest.mark.tensorflow
def test_update_batching_crash_restart_and_delete(ws, tf_models):
    v1 = Model.register(ws, str(tf_models / "linear-v1"), "linear", model_framework="TensorFlow")
    v2 = Model.register(ws, str(tf_models / "linear-v2"), "linear", model_framework="TensorFlow")
    keras = Model.register(ws, str(tf_models / "linear.keras"), "keras-linear", model_framework="TfKeras")
    multi = Model.register(ws, str(tf_models / "multi"), "multi", model_framework="TensorFlow")
    port = free_port()
    service = Model.deploy(ws, "linear-local", [v1], deployment_config=LocalWebservice.deploy_configuration(port=port))
    service.wait_for_deployment()
    assert isinstance(service, LocalWebservice) and service.port == port
    base = f"http://127.0.0.1:{port}"

    # Requests keep flowing while update() swaps in new models: none fails, v1 then v2 answers.
    answers, failures, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            status, body = call(f"{base}/v1/models/linear:predict", {"instances": X})
            (answers if status == 200 else failures).append(body)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(answers) > 20, 60)
        service.update(models=[v2, keras, multi],
                       deployment_config=LocalWebservice.deploy_configuration(
                           port=port, max_batch_size=8, batch_timeout_micros=200_000))
        assert service.state == "Transitioning"
        service.wait_for_deployment()
        count = len(answers)
        wait_until(lambda: len(answers) > count + 20, 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    seen = [a["predictions"][0] for a in answers]
    assert np.allclose(seen[0], linear(X, 1)[0]) and np.allclose(seen[-1], linear(X, 2)[0])
    assert service._refresh()["generation"] == 2

    # Several models: each at its own route; /score needs exactly one.
    status, body = call(f"{base}/v1/models/keras-linear:predict", {"instances": X})
    assert status == 200
    assert_close(body["predictions"], linear(X, 3))
    rows = [{"a": [1.0, 2.0], "b": 3}, {"a": [0.5, 0.5], "b": -1}]
    status, body = call(f"{base}/v1/models/multi:predict", {"instances": rows})
    assert status == 200 and body["predictions"] == [{"total": 6.0, "doubled": 6}, {"total": 0.0, "doubled": -2}]
    status, body = call(f"{base}/v1/models/multi:predict", {"inputs": {"a": [[1, 1]], "b": [1]}})
    assert status == 200 and body["outputs"] == {"total": [3.0], "doubled": [2]}
    status, body = call(f"{base}/v1/models/multi:predict", {"inputs": {"a": [[1, 1]], "b": [1.5]}})
    assert status == 400 and "'b' must hold int32 values; the request gave floats" in body["error"]
    status, body = call(f"{base}/v1/models/multi:predict", {"inputs": {"a": [[1, 1], [2, 2]], "b": [1]}})
    assert status == 400 and "different numbers of rows" in body["error"]
    status, body = call(f"{base}/score", {"instances": X})
    assert status == 400 and "several models" in body["error"]

    # Concurrent requests are stacked into batches of at most 8 rows.
    def one(i):
        status, body = call(f"{base}/v1/models/linear:predict", {"instances": [[i, 0, 0, 0]]})
        assert status == 200
        assert_close(body["predictions"], linear([[i, 0, 0, 0]], 2))

    before = _batching(base, "linear")
    workers = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    after = _batching(base, "linear")
    rows, batches = after["rows"] - before["rows"], after["batches"] - before["batches"]
    assert rows == 16 and batches < 16, (rows, batches)

    # The server dies (machine restart, kill -9): the record says so; reload() brings it back.
    pid = service._refresh()["pid"]
    os.kill(pid, 9)
    wait_until(lambda: service.state == "Unhealthy", 15)
    assert "service.reload()" in service.error
    with pytest.raises(WebserviceException, match="Unhealthy"):
        service.wait_for_deployment()
    service.reload(wait=True)
    assert service.state == "Healthy" and service._refresh()["pid"] != pid
    assert_close(call(f"{base}/v1/models/linear:predict", {"instances": X})[1]["predictions"], linear(X, 2))

    pid = service._refresh()["pid"]
    service.delete()
    assert not pid_alive(pid)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base}/", timeout=5)


def _batching(base: str, model: str) -> dict:
    stats = call(f"{base}/stats")[1]["batching"]
    found = [s for s in stats if s["model"] == model]
    return found[0] if found else {"rows": 0, "batches": 0}


SCORE = """
import json, os, sys
from runyard.core import Model

def init():
    global weights
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "weights.json")
    assert path == Model.get_model_path("weights")
    weights = json.load(open(path))["weights"]
    print("init done with", weights, "on python", sys.version_info[:2], flush=True)

def run(raw_data):
    data = json.loads(raw_data)
    if data.get("crash"):
        os._exit(3)
    if data.get("fail"):
        raise ValueError("asked to fail")
    return {"result": [sum(w * x for w, x in zip(weights, row)) for row in data["data"]],
            "version": VERSION}
"""


def _weights_model(ws, tmp_path, weights):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"weights": weights}))
    return Model.register(ws, str(path), "weights")


def test_entry_script_in_its_environment_crash_recovery_and_update(ws, src, tmp_path):
    model = _weights_model(ws, tmp_path, [1, 2])
    src.write("score.py", SCORE + "VERSION = 1\n")
    env = Environment("serve-env")  # another Python, without any of runyard's dependencies
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"],
                                                             python_version="3.12")
    config = InferenceConfig(entry_script="score.py", source_directory=str(src.path), environment=env)
    service = Model.deploy(ws, "weights-svc", [model], inference_config=config,
                           deployment_config=LocalWebservice.deploy_configuration())
    service.wait_for_deployment()
    assert service.run(json.dumps({"data": [[1, 1], [2, 0]]})) == {"result": [3, 2], "version": 1}
    assert "init done with [1, 2] on python (3, 12)" in service.get_logs()

    with pytest.raises(WebserviceException, match="500.*asked to fail"):
        service.run({"fail": True})
    assert "ValueError: asked to fail" in service.get_logs()
    with pytest.raises(WebserviceException, match="500.*exited"):
        service.run({"crash": True})
    assert service.run({"data": [[0, 1]]}) == {"result": [2], "version": 1}  # a new worker took over
    base = f"http://127.0.0.1:{service.port}"
    status, body = call(f"{base}/v1/models/weights:predict", {"instances": [[1]]})
    assert status == 404 and "entry script" in body["error"]

    # A new script and model version: the old worker answers until the new one is ready.
    new_model = _weights_model(ws, tmp_path, [10, 20])
    src.write("score.py", SCORE + "VERSION = 2\n")
    service.update(models=[new_model], inference_config=InferenceConfig(
        entry_script="score.py", source_directory=str(src.path), environment=env))
    service.wait_for_deployment()
    assert service.run({"data": [[1, 1]]}) == {"result": [30], "version": 2}
    with pytest.raises(UserErrorException, match="used by endpoint"):
        new_model.delete()

    # An update whose init() raises: Failed, with the error, and version 2 goes on answering.
    src.write("score.py", "def init():\n    raise KeyError('missing layer')\n\n"
                          "def run(raw_data):\n    return 0\n")
    service.update(inference_config=InferenceConfig(
        entry_script="score.py", source_directory=str(src.path), environment=env))
    with pytest.raises(WebserviceException, match="KeyError: 'missing layer'.*still serves generation 2"):
        service.wait_for_deployment()
    assert service.state == "Failed"
    assert service.run({"data": [[1, 1]]}) == {"result": [30], "version": 2}


def test_init_failure_puts_the_service_in_failed_with_the_traceback(ws, src, tmp_path):
    model = _weights_model(ws, tmp_path, [1])
    src.write("score.py", "def init():\n    raise RuntimeError('weights are corrupt')\n\n"
                          "def run(raw_data):\n    return raw_data\n")
    service = Model.deploy(ws, "broken-svc", [model], InferenceConfig("score.py", source_directory=str(src.path)))
    with pytest.raises(WebserviceException, match="Failed.*RuntimeError: weights are corrupt") as caught:
        service.wait_for_deployment()
    assert "Traceback" in caught.value.logs and "in init" in caught.value.logs
    assert service.state == "Failed"
    assert "RuntimeError: weights are corrupt" in service.get_logs()
    wait_until(lambda: not pid_alive(service._refresh()["pid"]), 15, message="server exits")


@pytest.mark.tensorflow
def test_deployment_errors_are_clear(ws, src, tmp_path, tf_models):
    model = _weights_model(ws, tmp_path, [1])
    src.write("score.py", "def run(raw_data):\n    return raw_data\n")
    config = InferenceConfig("score.py", source_directory=str(src.path))
    for name in ("ab", "Upper-case", "9starts-with-digit", "ends-with-dash-", "a" * 33, "under_score"):
        with pytest.raises(UserErrorException, match="3-32 characters"):
            Model.deploy(ws, name, [model], config)
    with pytest.raises(UserErrorException, match="model_framework=None.*TensorFlow and TfKeras"):
        Model.deploy(ws, "no-code", [model])
    not_saved = Model.register(ws, str(tmp_path / "weights.json"), "fake-tf", model_framework="TensorFlow")
    with pytest.raises(UserErrorException, match="neither a TensorFlow SavedModel"):
        Model.deploy(ws, "no-code", [not_saved])
    with pytest.raises(UserErrorException, match="entry_script 'missing.py' is not a file"):
        InferenceConfig("missing.py", source_directory=str(src.path))
    with pytest.raises(UserErrorException, match="non-empty list of Model"):
        Model.deploy(ws, "no-models", [], config)
    with pytest.raises(UserErrorException, match="port must be"):
        LocalWebservice.deploy_configuration(port=70000)
    with pytest.raises(UserErrorException, match="TLS proxy"):
        AciWebservice.deploy_configuration(ssl_enabled=True)

    first = Model.deploy(ws, "taken", [model], config)
    with pytest.raises(WebserviceException, match="already exists.*overwrite=True"):
        Model.deploy(ws, "taken", [model], config)
    first.wait_for_deployment()
    with pytest.raises(WebserviceException, match="does not use keys"):
        first.get_keys()
    busy = Model.deploy(ws, "busy-port", [model], config,
                        LocalWebservice.deploy_configuration(port=first.port))
    with pytest.raises(WebserviceException, match=f"Cannot listen on 127.0.0.1:{first.port}"):
        busy.wait_for_deployment()
    replaced = Model.deploy(ws, "taken", [model], config, overwrite=True)
    replaced.wait_for_deployment()
    assert replaced.run('"echo"') == '"echo"'  # run() got the raw body and returned it
    assert [s.name for s in Webservice.list(ws)] == ["busy-port", "taken"]
    assert [s.name for s in Webservice.list(ws, model_name="weights")] == ["busy-port", "taken"]


def test_endpoint_cli(ws, src, tmp_path):
    _weights_model(ws, tmp_path, [2, 3])
    src.write("score.py", SCORE + "VERSION = 1\n")
    result = runyard_cli("deploy", "cli-svc", "weights:1", "--entry-script", "score.py",
                         "--source-dir", str(src.path), "--auth", check=True)
    assert "Service cli-svc is Healthy" in result.stdout
    listed = json.loads(runyard_cli("endpoint", "list", "--json", check=True).stdout)
    assert [(s["name"], s["state"], s["models"], s["authEnabled"]) for s in listed] == \
        [("cli-svc", "Healthy", ["weights:1"], True)]
    out = runyard_cli("endpoint", "invoke", "cli-svc", "--data", '{"data": [[1, 1]]}', check=True)
    assert json.loads(out.stdout) == {"result": [5], "version": 1}
    keys = runyard_cli("endpoint", "keys", "cli-svc", "--regenerate", "Secondary", check=True).stdout
    assert keys.startswith("primary:") and "secondary:" in keys
    assert "init done" in runyard_cli("endpoint", "logs", "cli-svc", check=True).stdout
    # (Ctrl-C as in a terminal: a test run started in the background inherits SIGINT ignored)
    follower = subprocess.Popen([sys.executable, "-m", "runyard.cli", "endpoint", "logs", "-f", "cli-svc"],
                                stdout=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: "init done" in follower.stdout.readline(), 60)  # printed the tail
        with pytest.raises(WebserviceException, match="asked to fail"):
            Webservice(ws, "cli-svc").run({"fail": True})
        wait_until(lambda: "ValueError: asked to fail" in follower.stdout.readline(), 30)
    finally:
        follower.send_signal(2)
        follower.wait(10)

    # After a reboot (here: the server killed), `restart --all` brings back what is not running.
    os.kill(Webservice(ws, "cli-svc")._refresh()["pid"], 9)
    restarted = runyard_cli("endpoint", "restart", "--all", check=True)
    assert "Service cli-svc is Healthy" in restarted.stdout
    assert Webservice(ws, "cli-svc").run({"data": [[1, 0]]}) == {"result": [2], "version": 1}
    pid = Webservice(ws, "cli-svc")._refresh()["pid"]
    runyard_cli("endpoint", "delete", "cli-svc", check=True)
    assert not pid_alive(pid) and Webservice.list(ws) == []
    bad = runyard_cli("deploy", "Bad_Name", "weights")
    assert bad.returncode == 2 and "3-32 characters" in bad.stderr


@pytest.mark.tensorflow
def test_seed_page_model_flow(ws, tmp_path, monkeypatch):
    """The 2020 page after `azureml` -> `runyard`: train, register, download, deploy, score."""
    from runyard.core import Experiment, ScriptRunConfig
    from runyard.core.resource_configuration import ResourceConfiguration

    digits_dir = Path(__file__).resolve().parents[1] / "examples" / "digits"
    subprocess.run([sys.executable, str(digits_dir / "make_data.py"), str(tmp_path / "data")],
                   check=True, capture_output=True)
    config = ScriptRunConfig(source_directory=str(digits_dir), script="tf_mnist.py",
                             arguments=["--data-folder", str(tmp_path / "data"), "--epochs", "3"])
    run = Experiment(ws, "tf-mnist").submit(config)
    run.wait_for_completion()

    model = run.register_model(model_name="tf-mnist", model_path="outputs/model",
                               model_framework=Model.Framework.TENSORFLOW,
                               model_framework_version="2.0",
                               resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5))
    os.makedirs("./model", exist_ok=True)
    run.download_files(prefix="outputs/model", output_directory="./model", append_prefix=False)
    assert Path("model/saved_model.pb").is_file()

    service = Model.deploy(ws, "tensorflow-web-service", [model])
    service.wait_for_deployment(show_output=True)

    monkeypatch.syspath_prepend(str(digits_dir))
    from utils import load_data

    test_images = (load_data(str(tmp_path / "data/t10k-images-idx3-ubyte.gz")) / 255.0)[:100]
    labels = load_data(str(tmp_path / "data/t10k-labels-idx1-ubyte.gz"), label=True).reshape(-1)[:100]
    result = service.run(json.dumps({"instances": test_images.tolist()}))
    predictions = np.asarray(result["predictions"])
    assert predictions.shape == (100, 10)
    assert (predictions.argmax(axis=1) == labels).mean() > 0.7
    print(service.scoring_uri)
    service.delete()


FLAKY_INIT = """
import json, os

def init():
    # The first worker starts; a replacement fails while the file 'broken' exists.
    if os.path.exists(os.environ["MARKER_DIR"] + "/started") and os.path.exists(os.environ["MARKER_DIR"] + "/broken"):
        raise RuntimeError("replacement cannot start")
    open(os.environ["MARKER_DIR"] + "/started", "w").close()

def run(raw_data):
    if json.loads(raw_data).get("crash"):
        os._exit(3)
    return "ok"
"""


def test_a_replacement_worker_that_fails_init_is_retried_on_the_next_request(ws, src, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKER_DIR", str(tmp_path))
    model = _weights_model(ws, tmp_path, [1])
    src.write("score.py", FLAKY_INIT)
    service = Model.deploy(ws, "flaky-svc", [model], InferenceConfig("score.py", source_directory=str(src.path)))
    service.wait_for_deployment()
    (tmp_path / "broken").touch()
    with pytest.raises(WebserviceException, match="500.*exited"):
        service.run({"crash": True})  # the worker dies; its replacement's init() raises
    with pytest.raises(WebserviceException, match="503.*init\\(\\) fails"):
        service.run({})
    (tmp_path / "broken").unlink()
    assert service.run({}) == "ok"  # the next request starts a worker that works
    assert "RuntimeError: replacement cannot start" in service.get_logs()


def test_an_entry_script_serves_from_a_python_3_7_environment(ws, src, tmp_path):
    """A v1 deployment pinned to python_version="3.7": the entry script and what it imports of
    runyard (Model.get_model_path) run on a real 3.7 interpreter."""
    model = _weights_model(ws, tmp_path, [1, 2])
    src.write("score.py", SCORE + "VERSION = 37\n")
    env = Environment("serve-3-7")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"], python_version="3.7")
    service = Model.deploy(ws, "py37-svc", [model], inference_config=InferenceConfig(
        entry_script="score.py", source_directory=str(src.path), environment=env),
        deployment_config=LocalWebservice.deploy_configuration())
    service.wait_for_deployment()
    assert service.run(json.dumps({"data": [[1, 1]]})) == {"result": [3], "version": 37}
    assert "on python (3, 7)" in service.get_logs()
