"""TensorBoard on runs (v1's Tensorboard, and `runyard tensorboard`): started by the CLI on a
run that is still training, its HTTP API answers with the run's scalars before the run ends,
and stopping the CLI leaves nothing running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.parse
import urllib.request

import psutil
import pytest

from conftest import wait_until
from data_servers import free_port
from runyard.core import Experiment, Run, ScriptRunConfig
from runyard.errors import UserErrorException
from runyard.tensorboard import Tensorboard

pytestmark = pytest.mark.tensorflow

TRAIN = """
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
writer = tf.summary.create_file_writer("logs/train")
for step in range(int(os.environ.get("STEPS", "80"))):
    with writer.as_default():
        tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
    writer.flush()
    print("step", step, flush=True)
    time.sleep(0.5)
"""


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def _loss_steps(base: str, run_name: str) -> list[int]:
    query = urllib.parse.urlencode({"run": f"{run_name}/train", "tag": "loss"})
    try:
        return [point[1] for point in _get(f"{base}/data/plugin/scalars/scalars?{query}")]
    except (OSError, ValueError):
        return []


def test_the_cli_serves_a_live_runs_scalars_and_stops_everything(ws, src, tmp_path):
    src.write("train.py", TRAIN)
    run = Experiment(ws, "tb").submit(ScriptRunConfig(str(src.path), script="train.py"))
    run.display_name = "first try"
    wait_until(lambda: Run.get(ws, run.id).display_name == "first try", message="the name recorded")
    port = free_port()
    cli = subprocess.Popen([sys.executable, "-m", "runyard.cli", "tensorboard", run.id, "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = cli.stdout.readline()
        assert f"at http://127.0.0.1:{port}/" in line, line + cli.stderr.read()
        children = psutil.Process(cli.pid).children(recursive=True)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: len(_loss_steps(base, "first try")) >= 3, timeout=120,
                   message="the run's loss in TensorBoard")
        assert run.get_status() == "Running"  # (seen while it trains)
        early = len(_loss_steps(base, "first try"))
        wait_until(lambda: len(_loss_steps(base, "first try")) > early, timeout=60,
                   message="new points while the run goes on")
    finally:
        cli.send_signal(signal.SIGTERM)
        cli.wait(timeout=60)
        run.cancel()
    assert cli.returncode == 0
    assert children and not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_tensorboard_of_an_ended_run_and_clear_errors(ws, src, tmp_path):
    src.write("train.py", TRAIN)
    config = ScriptRunConfig(str(src.path), script="train.py")
    config.run_config.environment_variables = {"STEPS": "3"}
    run = Experiment(ws, "tb").submit(config)
    run.wait_for_completion()
    port = free_port()
    board = Tensorboard([run], local_root=str(tmp_path / "copies"), port=port)
    try:
        assert board.start() == f"http://127.0.0.1:{port}/"
        wait_until(lambda: _loss_steps(f"http://127.0.0.1:{port}", run.display_name) == [0, 1, 2], timeout=60,
                   message="the ended run's three points")
        assert list((tmp_path / "copies" / run.display_name / "train").glob("events.out.tfevents.*"))
        with pytest.raises(UserErrorException, match=f"port {port}"):
            Tensorboard([run], port=port).start()
    finally:
        board.stop()
    with pytest.raises(UserErrorException, match="list of runs"):
        Tensorboard(["not a run"])
