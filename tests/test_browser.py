"""The web UI in a real headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium) against a real `runyard ui` over a workspace with real runs: MLflow's pages open on
the runs, runyard's run page shows what a v1 user looks for, and a running run's output
appears before it ends. Screenshots go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from browser import shot, text, wait_for_text
from conftest import wait_until
from data_servers import free_port
from runyard.core import Experiment, ScriptRunConfig

pytestmark = pytest.mark.browser


@pytest.fixture
def ui(ws):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "runyard.cli", "ui", "--no-browser", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"

    def up():
        assert server.poll() is None, f"runyard ui exited: {server.stderr.read()}"
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as answer:
                return answer.read() == b"OK"
        except OSError:
            return False

    wait_until(up, timeout=90, interval=0.5, message="runyard ui to answer")
    yield base
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


TRAIN = """
import argparse, time
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int)
p.add_argument("--learning-rate", type=float)
p.add_argument("--fail", action="store_true")
a = p.parse_args()
run = Run.get_context()
for epoch in range(a.epochs):
    print(f"epoch {epoch} line", flush=True)
    run.log("accuracy", 0.5 + epoch / 100)
    time.sleep(0.1 if a.epochs < 50 else 1.0)
if a.fail:
    open("missing/data.csv")
"""


def test_the_first_page_shows_the_runs_and_a_run_page_says_why_it_failed(ws, src, ui, browser, capsys):
    src.write("train.py", TRAIN)
    experiment = Experiment(ws, "studio")
    done = experiment.submit(ScriptRunConfig(str(src.path), script="train.py",
                                             arguments=["--epochs", 3, "--learning-rate", 0.003]))
    failed = experiment.submit(ScriptRunConfig(str(src.path), script="train.py",
                                               arguments=["--epochs", 2, "--learning-rate", 0.1, "--fail"]))
    done.wait_for_completion(show_output=True)
    assert f"Web View: {ui}/runyard/runs/{done.id}" in capsys.readouterr().out  # (v1 prints its page too)
    failed.wait_for_completion(raise_on_error=False)

    browser.get(f"{ui}/")  # a fresh browser: MLflow's model-training view, the experiments
    wait_for_text(browser, "studio")
    assert "#/experiments" in browser.current_url
    assert "MLflow Assistant" not in text(browser)  # its panel stays closed
    shot(browser, "01-first-page")
    browser.find_element("link text", "studio").click()
    wait_for_text(browser, done.display_name)  # the experiment's runs, by their display names
    wait_for_text(browser, failed.display_name)
    shot(browser, "02-experiment-runs")

    browser.get(failed.get_portal_url().replace("http://127.0.0.1:5000", ui))
    wait_for_text(browser, "Failed")
    page = text(browser)
    assert failed.display_name in page and failed.id in page
    assert "--learning-rate" in page and "0.1" in page  # its params
    assert "FileNotFoundError" in page and "missing/data.csv" in page  # why it failed
    assert "Timeline" in page and "Queued" in page and "Running" in page
    wait_for_text(browser, "epoch 1 line")  # its output
    shot(browser, "03-failed-run-page")
    page_url = browser.current_url
    browser.find_element("link text", "train.py").click()  # the code that ran, from its snapshot
    wait_for_text(browser, 'open("missing/data.csv")')
    browser.get(page_url)
    browser.find_element("link text", "preparing_log").click()  # the Preparing log, followed the same way
    wait_for_text(browser, "Output")
    assert "log=preparing_log" in browser.current_url
    refused = urllib.request.Request(f"{ui}/runyard/api/runs/{failed.id}/log?log=../../runyard.db")
    try:
        urllib.request.urlopen(refused, timeout=10)
        raise AssertionError("a log outside the run's logs was served")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and b"std_log_process_<rank>" in exc.read()
    browser.get(page_url)
    browser.find_element("link text", "open in MLflow").click()  # and back to MLflow's page of it
    wait_for_text(browser, "--learning-rate")
    shot(browser, "04-mlflow-run-page")


def test_a_running_runs_output_appears_on_its_page_before_it_ends(ws, src, ui, browser):
    src.write("train.py", TRAIN)
    run = Experiment(ws, "live").submit(ScriptRunConfig(str(src.path), script="train.py",
                                                        arguments=["--epochs", 60, "--learning-rate", 0.01]))
    try:
        assert run.get_portal_url().endswith(f"/runyard/runs/{run.id}")
        assert run.get_portal_url().startswith(ui)  # the UI serving this workspace
        browser.get(run.get_portal_url())
        wait_for_text(browser, "epoch 2 line", timeout=90)
        assert run.get_status() == "Running"
        assert "Running" in browser.find_element("id", "status").text
        shot(browser, "05-live-output")
        log = json.loads(urllib.request.urlopen(f"{ui}/runyard/api/runs/{run.id}/log?offset=0").read())
        assert "epoch 0 line" in log["text"] and not log["ended"]
    finally:
        run.cancel()
    wait_until(lambda: "Canceled" in browser.find_element("id", "status").text, timeout=60,
               message="the page to follow the run to its end")


SCORE = """
import json, os

def init():
    global weights
    weights = json.load(open(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "weights.json")))["weights"]

def run(raw_data):
    return {"result": [sum(w * x for w, x in zip(weights, row)) for row in json.loads(raw_data)["data"]]}
"""


def test_the_console_shows_the_workspace_and_an_endpoint_answers_a_test_request(ws, src, tmp_path, ui, browser):
    from selenium.webdriver.common.by import By

    from runyard.core import Dataset, Model
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import AciWebservice

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    Dataset.File.from_files(path=str(tmp_path / "data")).register(ws, "letters")
    (tmp_path / "weights.json").write_text(json.dumps({"weights": [1, 2]}))
    model = Model.register(ws, str(tmp_path / "weights.json"), "weights")
    src.write("score.py", SCORE)
    service = Model.deploy(ws, "console-svc", [model], InferenceConfig("score.py", source_directory=str(src.path)),
                           AciWebservice.deploy_configuration(auth_enabled=True))
    try:
        service.wait_for_deployment()
        assert "/runyard/endpoints/console-svc" in service._repr_html_() and "Healthy" in service._repr_html_()
        browser.get(f"{ui}/runyard/")
        wait_for_text(browser, "Registered models")
        page = text(browser)
        assert "console-svc" in page and "Healthy" in page and "weights:1" in page
        assert "letters" in page
        models_row = next(row.text for row in browser.find_elements(By.TAG_NAME, "tr") if row.text.startswith("weights"))
        assert "console-svc" in models_row  # the endpoint that serves it
        shot(browser, "06-console")
        browser.find_element(By.LINK_TEXT, "console-svc").click()
        wait_for_text(browser, "Send a test request")
        key = service.get_keys()[0]
        assert key and key not in browser.page_source  # keys are never shown
        box = browser.find_element(By.ID, "body")
        box.clear()
        box.send_keys('{"data": [[1, 1], [2, 0]]}')
        browser.find_element(By.ID, "send").click()
        wait_until(lambda: "HTTP 200" in browser.find_element(By.ID, "answer").text, timeout=30,
                   message="the test request's answer")
        assert '"result": [3, 2]' in browser.find_element(By.ID, "answer").text.replace("[3,2]", "[3, 2]")
        shot(browser, "07-endpoint-test-request")

        browser.get(f"{ui}/runyard/")  # the model's page: the endpoint serving it, its files
        browser.find_element(By.LINK_TEXT, "weights").click()
        wait_for_text(browser, "Served by")
        assert "console-svc" in text(browser) and "weights.json" in text(browser)
        browser.back()
        browser.find_element(By.LINK_TEXT, "letters").click()  # the dataset's versions and files
        wait_for_text(browser, "Versions (1)")
        assert "a.txt" in text(browser)
        shot(browser, "08-dataset")
    finally:
        service.delete()


@pytest.mark.tensorflow
def test_mlflows_model_page_shows_the_savedmodels_schema_and_links_to_runyards(ws, ui, browser, tf_models):
    from selenium.webdriver.common.by import By

    from runyard.core import Model

    Model.register(ws, str(tf_models / "linear-v1"), "linear", model_framework="TensorFlow")
    browser.get(f"{ui}/#/models/linear/versions/1")
    wait_for_text(browser, "Outputs (1)")  # (an empty schema says "No schema")
    browser.find_element(By.XPATH, "//*[text()='Inputs (1)']").click()
    wait_for_text(browser, "Tensor (dtype: float32, shape: [-1,4])")
    shot(browser, "09-mlflow-model-version-schema")
    runyard_page = browser.find_element(By.PARTIAL_LINK_TEXT, "its runyard page").get_attribute("href")
    assert runyard_page == f"{ui}/runyard/models/linear/1"  # (MLflow opens description links in a new tab)
    browser.get(runyard_page)
    wait_for_text(browser, "Schema (signature serving_default)")
    assert "No endpoint serves this version" in text(browser) and "saved_model.pb" in text(browser)
