"""Ray cluster compute targets, on real multi-node Ray clusters started on this machine (one
raylet per node, told apart by Ray node id). Jobs run through real supervisors and agents."""

from __future__ import annotations

import json
import os
import re
import time

import psutil
import pytest

from conftest import pid_alive, runyard_cli, wait_until
from runyard.compute import ray_cluster
from runyard.core import Experiment, ScriptRunConfig
from runyard.core.compute import AmlCompute, ComputeTarget, RayCompute
from runyard.core.compute_target import ComputeTargetException
from runyard.core.runconfig import MpiConfiguration, TensorflowConfiguration

pytestmark = pytest.mark.ray

SLEEPER = """
import json, os, sys, time
from runyard import Run
run = Run.get_context()
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
print("pid", os.getpid(), "rank", os.environ["RUNYARD_PROCESS_RANK"], "task", json.dumps(task), flush=True)
run.log("started", 1)
if os.environ["RUNYARD_PROCESS_RANK"] == "0":
    os.makedirs("logs", exist_ok=True)
    with open("logs/progress.txt", "w") as fh:
        fh.write("started")
if task.get("index") == int(os.environ.get("FAIL_INDEX", "-1")):
    time.sleep(float(os.environ.get("FAIL_AFTER", "0")))  # the others are up by then
    sys.exit(3)
time.sleep(float(os.environ.get("SLEEP", "0")))
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three Ray nodes on this machine, with token authentication; stopped by PID after."""
    token = ray_cluster.new_token()
    folder = tmp_path_factory.mktemp("ray")
    saved = os.environ.get("RUNYARD_CACHE")
    os.environ["RUNYARD_CACHE"] = str(folder / "node-cache")  # what the nodes' agents use
    os.environ["RUNYARD_NODE_ORPHAN_TIMEOUT"] = "8"
    started = []
    try:
        for index in range(3):
            started.append(ray_cluster.start_node(
                head_address=started[0]["address"] if started else None, token=token, cpus=1,
                log=folder / f"node-{index}.log"))
    except Exception:
        ray_cluster.stop_nodes(started)
        raise
    finally:
        os.environ.pop("RUNYARD_NODE_ORPHAN_TIMEOUT")
        if saved is None:
            os.environ.pop("RUNYARD_CACHE", None)
        else:
            os.environ["RUNYARD_CACHE"] = saved
    yield {"address": started[0]["address"], "token": token, "processes": started,
           "folder": folder}
    ray_cluster.stop_nodes(started)
    import shutil

    shutil.rmtree(ray_cluster.temp_dir(token), ignore_errors=True)


@pytest.fixture
def target(ws, cluster):
    return ComputeTarget.attach(ws, "team-ray", RayCompute.attach_configuration(
        cluster["address"], auth_token=cluster["token"]))


def printed(run, pattern="pid"):
    text = run._paths.std_log.read_text() if run._paths.std_log.exists() else ""
    return [line for line in text.splitlines() if pattern in line]


def pids_of(run) -> list[int]:
    return [int(line.split("pid ")[1].split()[0]) for line in printed(run)]


def submit_sleepers(ws, src, target, experiment: str, workers: int, ps: int = 0, **env):
    """A TensorFlow-shaped job of SLEEPER processes (one per node); `env`: SLEEP, FAIL_INDEX."""
    src.write("s.py", SLEEPER)
    config = ScriptRunConfig(str(src.path), script="s.py", compute_target=target,
                             distributed_job_config=TensorflowConfiguration(
                                 worker_count=workers, parameter_server_count=ps))
    config.run_config.environment_variables = {k: str(v) for k, v in env.items()}
    return Experiment(ws, experiment).submit(config)


def started(run, count: int) -> list[int]:
    """Wait until `count` processes printed their pid; returns the pids."""
    wait_until(lambda: len(printed(run)) == count, timeout=120, message=f"{count} processes started")
    return pids_of(run)


def test_seed_compute_flow_creates_uses_and_deletes_a_local_cluster(ws, src, capsys, monkeypatch):
    # The seed page's code, after the import change. This machine has no GPU: RUNYARD_GPUS
    # declares two, so that each STANDARD_NC6 node gets one (Ray's GPUs are logical: the
    # bundles, the ids Ray grants and CUDA_VISIBLE_DEVICES are real; only the devices are not).
    monkeypatch.setenv("RUNYARD_GPUS", "0,1")
    cluster_name = "gpu-cluster"
    with pytest.raises(ComputeTargetException, match="does not exist"):
        ComputeTarget(workspace=ws, name=cluster_name)
    compute_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6", max_nodes=2)
    from runyard.compute import store

    compute_target = ComputeTarget.create(ws, cluster_name, compute_config)
    try:
        compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=5)
        shown = capsys.readouterr().out
        assert "Succeeded" in shown and "currentNodeCount" in shown

        again = ComputeTarget(workspace=ws, name=cluster_name)
        assert isinstance(again, AmlCompute)
        status = again.get_status()
        assert status.provisioning_state == "Succeeded" and status.current_node_count == 2
        nodes = again.list_nodes()
        assert len({n["nodeId"] for n in nodes}) == 2 and all(n["nodeState"] == "idle" for n in nodes)
        assert [t.name for t in ComputeTarget.list(ws)] == [cluster_name]
        listed = runyard_cli("compute", "list", "--json", check=True)
        assert json.loads(listed.stdout)[0]["name"] == cluster_name

        src.write("hello.py", SLEEPER)
        run = Experiment(ws, "seed").submit(ScriptRunConfig(str(src.path), script="hello.py",
                                                           compute_target=compute_target))
        run.wait_for_completion()
        assert run.get_metrics()["started"] == 1
        assert run.get_details()["properties"]["runyard.nodes"] in {n["nodeId"] for n in nodes}
        assert sorted(n["resources"].get("GPU") for n in ray_cluster.nodes(store.get(ws, cluster_name))) == [1.0, 1.0]
        src.write("gpus.py", "import os\nfrom runyard import Run\n"
                             "Run.get_context().tag('visible', os.environ['CUDA_VISIBLE_DEVICES'])\n")
        gpu_runs = [Experiment(ws, "seed").submit(ScriptRunConfig(str(src.path), script="gpus.py",
                                                                  compute_target=compute_target)) for _ in range(2)]
        for gpu_run in gpu_runs:
            assert gpu_run.wait_for_completion()["status"] == "Completed"
        visible = [r.get_tags()["visible"] for r in gpu_runs]
        assert set(visible) <= {"0", "1"} and [r.get_details()["devices"] for r in gpu_runs] == \
            [[f"GPU {v} on node 0"] for v in visible]

        processes = store.get(ws, cluster_name)["processes"]
        members = [p for entry in processes for p in psutil.Process(entry["pid"]).children(recursive=True)]
        assert any("raylet" in " ".join(p.cmdline()) for p in members)
        shown = runyard_cli("compute", "show", cluster_name, check=True).stdout
        assert "2 node(s) alive" in shown
        compute_target.delete()
        assert not any(ray_cluster.node_process_alive(entry) for entry in processes)
        assert not [p for p in members if pid_alive(p.pid)]
        assert store.find(ws, cluster_name) is None
        with pytest.raises(ComputeTargetException):
            ComputeTarget(ws, cluster_name)
    finally:  # a failed check must not leave the cluster's nodes running
        left = store.find(ws, cluster_name)
        if left is not None:
            ray_cluster.stop_nodes(left.get("processes") or [])


def test_bad_compute_configurations_are_refused(ws, cluster):
    with pytest.raises(ValueError, match="max_nodes must be an integer of at least 1"):
        ComputeTarget.create(ws, "cpu1", AmlCompute.provisioning_configuration(max_nodes=0))
    with pytest.raises(ValueError, match="built-in compute target"):
        ComputeTarget.create(ws, "local", AmlCompute.provisioning_configuration(max_nodes=1))
    with pytest.raises(ValueError, match="host:port"):
        ComputeTarget.attach(ws, "cpu2", RayCompute.attach_configuration("nowhere"))
    with pytest.raises(ComputeTargetException, match="Cannot reach"):
        ComputeTarget.attach(ws, "cpu3", RayCompute.attach_configuration("127.0.0.1:9", auth_token="x"))
    assert ComputeTarget.list(ws) == []


def test_tensorflow_tasks_run_one_per_node_with_their_own_addresses(ws, src, target, cluster):
    src.write("tasks.py", """
        import json, os, socket, time
        from runyard import Run
        run = Run.get_context()
        config = json.loads(os.environ["TF_CONFIG"])
        task = config["task"]
        host, port = config["cluster"][task["type"]][task["index"]].rsplit(":", 1)
        server = socket.socket()
        server.bind(("", int(port)))  # the task's port is free where the task runs
        print("task", task["type"], task["index"], "listens on", host, port, flush=True)
        for step in range(5):  # (MLflow stores two points equal in value, step and ms once)
            run.log("loss", 1.0 / (step + 1) + int(os.environ["RUNYARD_PROCESS_RANK"]))
        os.makedirs("outputs", exist_ok=True)
        with open(f"outputs/{task['type']}-{task['index']}.txt", "w") as fh:
            fh.write(os.environ["RUNYARD_PROCESS_RANK"])
        if task["type"] == "ps":  # as TensorFlow's: serves until the job stops it
            server.listen()
            while True:
                server.accept()[0].close()
        ps_host, ps_port = config["cluster"]["ps"][0].rsplit(":", 1)
        for _ in range(600):  # a worker ends once it has reached the ps at its address
            try:
                socket.create_connection((ps_host, int(ps_port)), timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("the ps never answered")
    """)
    run = Experiment(ws, "tf-ray").submit(ScriptRunConfig(
        str(src.path), script="tasks.py", compute_target=target,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=1)))
    run.wait_for_completion(raise_on_error=False)
    details = run.get_details()
    assert details["status"] == "Completed", details.get("error")
    node_ids = details["properties"]["runyard.nodes"].split(",")
    alive = {n["nodeId"] for n in target.list_nodes()}
    assert len(set(node_ids)) == 3 and set(node_ids) <= alive
    lines = printed(run, "listens on")
    assert len(lines) == 3 and {line.split("]")[0] for line in lines} == {"[worker 0", "[worker 1", "[ps 0"}
    # Every point once: 5 per process, 3 processes.
    assert sorted(run.get_metrics()["loss"]) == sorted(v + rank for v in [1.0, 0.5, 1 / 3, 0.25, 0.2] for rank in range(3))
    names = run.get_file_names()
    assert {"outputs/worker-0.txt", "outputs/worker-1.txt", "outputs/ps-0.txt"} <= set(names)
    assert "user_logs/std_log_process_2.txt" in names


def test_multi_worker_mirrored_training_across_nodes(ws, src, target):
    src.write("train.py", """
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import numpy as np
        import tensorflow as tf
        from runyard import Run
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        with strategy.scope():
            model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
        x = np.random.rand(64, 4).astype("float32"); y = x.sum(axis=1, keepdims=True)
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        print("workers", strategy.num_replicas_in_sync, "loss", history.history["loss"][-1], flush=True)
        # One name per worker: both log the same value at the same millisecond, which MLflow
        # stores once (its metric key includes name, step, value and time).
        Run.get_context().log("final_loss_" + os.environ["RANK"], float(history.history["loss"][-1]))
    """)
    run = Experiment(ws, "mwms-ray").submit(ScriptRunConfig(
        str(src.path), script="train.py", compute_target=target,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0)))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details().get("error")
    assert len(printed(run, "workers 2 loss")) == 2
    assert {"final_loss_0", "final_loss_1"} <= set(run.get_metrics())


def test_a_failed_process_fails_the_job_and_stops_the_other_nodes(ws, src, target):
    run = submit_sleepers(ws, src, target, "fail-ray", 3, FAIL_INDEX=1, FAIL_AFTER=3, SLEEP=300)
    pids = started(run, 3)
    run.wait_for_completion(raise_on_error=False)
    error = run.get_details()["error"]["error"]
    assert run.get_status() == "Failed" and "worker 1" in error["message"] and "code 3" in error["message"]
    wait_until(lambda: not [p for p in pids if pid_alive(p)], timeout=10, message="no survivors")


def test_cancel_stops_every_process_on_every_node(ws, src, target):
    run = submit_sleepers(ws, src, target, "cancel-ray", 2, ps=1, SLEEP=300)
    pids = started(run, 3)
    # ./logs is uploaded while the job runs, as on this machine.
    wait_until(lambda: "logs/progress.txt" in run.get_file_names(), timeout=30, message="live logs")
    run.cancel()
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Canceled"
    wait_until(lambda: not [p for p in pids if pid_alive(p)], timeout=10, message="no process left")
    assert all(n["nodeState"] == "idle" for n in target.list_nodes())


def test_a_killed_supervisor_leaves_no_process_on_the_nodes(ws, src, target):
    run = submit_sleepers(ws, src, target, "orphan-ray", 2, SLEEP=300)
    pids = started(run, 2)
    supervisor = ws._registry.get_run(run.id)["supervisor_pid"]
    assert supervisor and supervisor != os.getpid()
    psutil.Process(supervisor).kill()
    # The nodes notice that nobody polls the job any more (RUNYARD_NODE_ORPHAN_TIMEOUT=8).
    wait_until(lambda: not [p for p in pids if pid_alive(p)], timeout=40, message="orphans stopped")
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Failed"
    wait_until(lambda: all(n["nodeState"] == "idle" for n in target.list_nodes()), timeout=30,
               message="the nodes are free again")


def test_too_large_jobs_are_refused_and_busy_clusters_queue(ws, src, target, cluster):
    with pytest.raises(ComputeTargetException, match="needs 4 nodes .* has at most 3 node"):
        submit_sleepers(ws, src, target, "queue-ray", 4)
    assert list(ws._registry.list_runs()) == []
    first = submit_sleepers(ws, src, target, "queue-ray", 3, SLEEP=300)
    started(first, 3)  # every node is busy
    from runyard.ui.catalog import render_compute
    from runyard.ui.console import render_console

    console = render_console(ws)  # the console page: the target, the run on it, never its token
    assert "team-ray" in console and first.display_name in console and cluster["token"] not in console
    page = render_compute(ws, "team-ray")  # its page: each node, busy with that run
    assert page.count(f"/runyard/runs/{first.id}") == 3 + 1 and page.count("status running") == 3
    assert cluster["token"] not in page
    second = Experiment(ws, "queue-ray").submit(ScriptRunConfig(str(src.path), script="s.py", compute_target=target))
    wait_until(lambda: second._paths.preparing_log.exists() and "Waiting for 1 node(s)" in
               second._paths.preparing_log.read_text(), timeout=60, message="a queue reason")
    assert second.get_status() == "Queued"
    first.cancel()
    second.wait_for_completion()
    assert second.get_status() == "Completed"


def test_a_node_lost_mid_run_fails_the_run_naming_it(ws, src, cluster):
    """A fourth node joins; the job spreads over all four; that node's raylet is killed."""
    extra = ray_cluster.start_node(head_address=cluster["address"], token=cluster["token"], cpus=1,
                                   log=cluster["folder"] / "node-extra.log")
    try:
        target = ComputeTarget.attach(ws, "team-ray", RayCompute.attach_configuration(
            cluster["address"], auth_token=cluster["token"]))
        run = submit_sleepers(ws, src, target, "lost-ray", 4, SLEEP=300)
        pids = started(run, 4)
        raylet = next(p for p in psutil.Process(extra["pid"]).children(recursive=True)
                      if "raylet/raylet" in " ".join(p.cmdline()))
        node_id = next(a.split("=", 1)[1] for a in raylet.cmdline() if a.startswith("--node_id="))
        killed_at = time.monotonic()
        raylet.kill()
        run.wait_for_completion(raise_on_error=False)
        took = time.monotonic() - killed_at
        error = run.get_details()["error"]["error"]
        assert run.get_status() == "Failed" and took < 30
        assert error["code"] == "NodeFailure" and node_id in error["message"], error
        wait_until(lambda: not [p for p in pids if pid_alive(p)], timeout=10, message="no survivors")
    finally:
        ray_cluster.stop_nodes([extra])


def test_mpi_ranks_run_on_their_nodes_launched_through_ray(ws, src, target):
    src.write("mpi.py", """
        import os, sys
        from runyard import Run
        rank = int(os.environ["RANK"])
        node = os.environ["RUNYARD_RANKS_DIR"].split("/nodes/")[1].split("/")[0]
        assert os.getcwd() == os.path.join(os.path.dirname(os.environ["RUNYARD_RANKS_DIR"]), "wd"), os.getcwd()
        assert os.path.exists("mpi.py")  # (its node's copy of the snapshot)
        print("rank", rank, "of", os.environ["WORLD_SIZE"], "local", os.environ["LOCAL_RANK"],
              "node", node, flush=True)
        Run.get_context().log("rank", rank)
        sys.exit(int(os.environ.get("FAIL_RANK", "-1") == str(rank)) * 4)
    """)
    config = ScriptRunConfig(str(src.path), script="mpi.py", compute_target=target,
                             distributed_job_config=MpiConfiguration(process_count_per_node=2, node_count=2))
    run = Experiment(ws, "mpi-ray").submit(config)
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details().get("error")
    # Only the script's own lines: mpirun or Ray may print warnings that mention a node too.
    by_node: dict[str, list[int]] = {}
    for line in printed(run, " node "):
        mine = re.search(r"\brank (\d+) of 4 local \d+ node (\S+)$", line)
        if mine:
            by_node.setdefault(mine.group(2), []).append(int(mine.group(1)))
    # Two nodes (told apart by Ray node id), two ranks each, with the usual rank variables, each
    # rank in its own node's folder (the script asserts it).
    assert len(by_node) == 2 and sorted(sum(by_node.values(), [])) == [0, 1, 2, 3]
    assert all(len(ranks) == 2 for ranks in by_node.values())
    assert sorted(run.get_metrics()["rank"]) == [0, 1, 2, 3]
    assert "user_logs/std_log_process_3.txt" in run.get_file_names()

    config.run_config.environment_variables = {"FAIL_RANK": "2"}
    failed = Experiment(ws, "mpi-ray").submit(config)
    failed.wait_for_completion(raise_on_error=False)
    error = failed.get_details()["error"]["error"]
    assert failed.get_status() == "Failed" and "rank 2" in error["message"], error


def test_each_node_builds_the_environment_and_brings_the_datasets(ws, src, target, tmp_path):
    from runyard.core import Dataset, Environment
    from runyard.core.conda_dependencies import CondaDependencies

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub" / "b.txt").write_text("beta")
    dataset = Dataset.File.from_files(str(data)).register(ws, "letters")
    env = Environment("six-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"],
                                                             python_version="3.12")
    src.write("report.py", """
        import os, sys, six
        folder = sys.argv[2]
        files = sorted(os.path.relpath(os.path.join(r, f), folder) for r, _, fs in os.walk(folder) for f in fs)
        print("python", ".".join(map(str, sys.version_info[:2])), "six", six.__version__, "files", files, flush=True)
    """)
    run = Experiment(ws, "env-ray").submit(ScriptRunConfig(
        str(src.path), script="report.py", arguments=["--data", dataset.as_named_input("letters").as_download()],
        environment=env, compute_target=target,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0)))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details().get("error")
    lines = printed(run, "six 1.16.0")
    assert len(lines) == 2 and all("python 3.12" in line and "['a.txt', 'sub/b.txt']" in line for line in lines)
    preparing = run._paths.preparing_log.read_text()
    assert "[node 0]" in preparing and "[node 1]" in preparing and "Inputs ready" in preparing
    used = json.loads(run._paths.inputs_log.read_text())
    assert {f["path"] for f in used[0]["files"]} == {"a.txt", "sub/b.txt"}


def test_cli_attaches_runs_on_and_shows_a_cluster(ws, src, cluster, monkeypatch):
    monkeypatch.setenv("TEAM_RAY_TOKEN", cluster["token"])
    runyard_cli("compute", "attach", "team-cli", "--address", cluster["address"],
                "--token-env", "TEAM_RAY_TOKEN", check=True)
    src.write("s.py", SLEEPER)
    result = runyard_cli("run", "--compute", "team-cli", "--workers", "2", str(src.path / "s.py"),
                         check=True)
    assert result.stdout.count("pid ") == 2 and "Completed" in result.stdout
    shown = json.loads(runyard_cli("compute", "show", "team-cli", "--json", check=True).stdout)
    assert shown["provisioningState"] == "Succeeded" and shown["currentNodeCount"] == 3
    assert len({n["nodeId"] for n in shown["nodes"] if n["nodeState"] != "dead"}) == 3
    assert cluster["token"] not in json.dumps(shown)  # the token is never shown
    missing = runyard_cli("run", "--compute", "nowhere", str(src.path / "s.py"))
    assert missing.returncode != 0 and "does not exist" in missing.stderr + missing.stdout
    runyard_cli("compute", "delete", "team-cli", check=True)
    assert ComputeTarget.list(ws) == [] and ray_cluster.alive_nodes(
        {"name": "x", "address": cluster["address"], "secret": cluster["token"]})  # still running


def test_a_sweeps_trials_spread_over_the_clusters_nodes(ws, src, target):
    from runyard.train.hyperdrive import (
        GridParameterSampling,
        HyperDriveConfig,
        PrimaryMetricGoal,
        choice,
    )

    src.write("trial.py", """
        import argparse, os
        from runyard import Run
        p = argparse.ArgumentParser()
        p.add_argument("--lr", type=float)
        a = p.parse_args()
        Run.get_context().log("acc", 1 - a.lr)
        print("node", os.environ["RUNYARD_RANKS_DIR"].split("/nodes/")[1].split("/")[0], flush=True)
    """)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="trial.py", compute_target=target),
        hyperparameter_sampling=GridParameterSampling({"--lr": choice(0.1, 0.2, 0.3)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=3, max_concurrent_runs=3)
    sweep = Experiment(ws, "ray-sweep").submit(config)
    sweep.wait_for_completion()
    children = sweep.get_children()
    assert sweep.get_status() == "Completed" and [c.get_status() for c in children] == ["Completed"] * 3
    assert all(c._record["target"] == "team-ray" for c in children)
    nodes = {printed(c, "node ")[0].split()[-1] for c in children}
    assert len(nodes) >= 2, nodes  # placed like jobs of their own: not all on one node
    assert sweep.get_best_run_by_primary_metric().get_metrics()["acc"] == 0.9
