"""`runyard ui` serves the MLflow UI on the workspace: runs, metrics, tags and artifacts."""

import json
import os
import socket
import subprocess
import sys
import urllib.request

from conftest import wait_until
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
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy(),
        start_new_session=True)
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
        assert tags["stage"] == "demo" and tags["mlflow.runName"] == run.id
        run_uuid = found[0]["info"]["run_id"]
        artifact = _get(f"{base}/get-artifact?path=outputs/model.txt&run_uuid={run_uuid}")
        assert artifact == b"weights"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
