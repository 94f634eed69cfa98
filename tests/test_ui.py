"""`runyard ui` serves the MLflow UI on the workspace: runs, metrics, tags and artifacts."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from conftest import pid_alive, wait_until
from runyard.core import Experiment, ScriptRunConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def test_ui_shows_runs_metrics_tags_and_artifacts(ws, src):
    src.write("job.py", """
        import os
        from runyard.core import Run
        run = Run.get_context()
        run.log("accuracy", 0.91)
        run.tag("stage", "demo")
        os.makedirs("outputs", exist_ok=True)
        open("outputs/model.txt", "w").write("weights")
    """)
    run = Experiment(ws, "ui-check").submit(ScriptRunConfig(str(src.path), script="job.py"))
    run.wait_for_completion()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "runyard.cli", "ui", "--no-browser", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return _get(f"{base}/health")
            except OSError:
                assert server.poll() is None, "runyard ui exited"
                return None

        wait_until(up, timeout=90, interval=0.5, message="the UI to answer")
        assert b"<html" in _get(f"{base}/").lower()
        experiments = json.loads(_get(f"{base}/api/2.0/mlflow/experiments/search",
                                      {"max_results": 10}))["experiments"]
        exp_id = next(e["experiment_id"] for e in experiments if e["name"] == "ui-check")
        found = json.loads(_get(f"{base}/api/2.0/mlflow/runs/search",
                                {"experiment_ids": [exp_id]}))["runs"]
        assert len(found) == 1
        data = found[0]["data"]
        assert {"key": "accuracy", "value": 0.91} in [
            {"key": m["key"], "value": m["value"]} for m in data["metrics"]]
        tags = {t["key"]: t["value"] for t in data["tags"]}
        assert tags["stage"] == "demo" and tags["mlflow.runName"] == run.display_name
        run_uuid = found[0]["info"]["run_id"]
        artifact = _get(f"{base}/get-artifact?path=outputs/model.txt&run_uuid={run_uuid}")
        assert artifact == b"weights"
        # The page opens in MLflow's model-training view, on the experiments' runs.
        page = _get(f"{base}/").decode()
        assert '"mlflow.workflowType_v1":"machine_learning"' in page
        assert page.index("mlflow.workflowType_v1") < page.index("static-files/static/js/main")
        # A second `runyard ui` on the same port says so and stops, starting nothing.
        taken = subprocess.run([sys.executable, "-m", "runyard.cli", "ui", "--no-browser", "--port", str(port)],
                               capture_output=True, text=True, timeout=60)
        assert taken.returncode != 0 and f"Cannot listen on 127.0.0.1:{port}" in taken.stderr, taken.stderr
        assert "--port" in taken.stderr
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    assert not pid_alive(server.pid)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_ui_stops_everything_it_started_and_says_one_line(ws, stop):
    import psutil

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "runyard.cli", "ui", "--no-browser", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=90, interval=0.5,
                   message="the UI to answer")
        started = [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]
        os.kill(server.pid, stop)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert server.returncode is not None
    assert out.strip() == f"runyard ui: workspace 'default' at http://127.0.0.1:{port} (Ctrl-C stops it)"
    assert "Warning" not in err and "warn" not in err.lower(), err
    wait_until(lambda: not any(pid_alive(pid) for pid in started), timeout=20, message="every process gone")
    assert not _answers(f"http://127.0.0.1:{port}/health")


def _answers(url: str) -> bool:
    try:
        return _get(url) == b"OK"
    except OSError:
        return False
