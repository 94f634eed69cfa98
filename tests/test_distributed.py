"""TensorFlow distributed jobs on the local compute: real processes, real TF_CONFIG."""

import json
import shutil

import pytest

from conftest import REPO, pid_alive, runyard_cli
from runyard.core import Experiment, ScriptRunConfig
from runyard.core.runconfig import MpiConfiguration, TensorflowConfiguration
from runyard.errors import UserErrorException

EXAMPLES = REPO / "examples" / "distributed"

SHOW_TF_CONFIG = """
import json, os, time
from runyard.core import Run
config = json.loads(os.environ["TF_CONFIG"])
print("TF_CONFIG", json.dumps(config), "PID", os.getpid(), flush=True)
Run.get_context().log("rank_seen", int(os.environ["RANK"]))
if config["task"]["type"] == "ps":
    open("ps_ready", "w").close()  # the processes share the run's working folder
    time.sleep(600)  # parameter servers serve until the job ends
deadline = time.time() + 60
while "ps" in config["cluster"] and not os.path.exists("ps_ready") and time.time() < deadline:
    time.sleep(0.05)  # workers end the job: let the ps report first
"""


def _tf_configs(run):
    configs = {}
    for rank_file in sorted(run._paths.user_logs.glob("std_log_process_*.txt")):
        for line in rank_file.read_text().splitlines():
            if line.startswith("TF_CONFIG "):
                config = json.loads(line.split(" ", 1)[1].rsplit(" PID", 1)[0])
                configs[(config["task"]["type"], config["task"]["index"])] = config
    return configs


def test_tf_config_for_workers_and_parameter_servers(ws, src):
    src.write("show.py", SHOW_TF_CONFIG)
    run = Experiment(ws, "dist").submit(ScriptRunConfig(
        str(src.path), script="show.py",
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=1)))
    assert run.wait_for_completion()["status"] == "Completed"  # ends when the workers end
    configs = _tf_configs(run)
    assert set(configs) == {("worker", 0), ("worker", 1), ("ps", 0)}
    cluster = configs[("worker", 0)]["cluster"]
    assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1
    addresses = cluster["worker"] + cluster["ps"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert all(c["environment"] == "cloud" and c["cluster"] == cluster for c in configs.values())
    combined = run._paths.std_log.read_text()
    assert "[worker 0] TF_CONFIG" in combined and "[ps 0] TF_CONFIG" in combined
    assert sorted(run.get_metrics()["rank_seen"]) == [0.0, 1.0, 2.0]  # metrics from every rank
    files = run.get_file_names()
    assert {f"user_logs/std_log_process_{r}.txt" for r in range(3)} <= set(files)


def test_two_runs_at_once_get_different_ports(ws, src):
    src.write("show.py", SHOW_TF_CONFIG)
    config = TensorflowConfiguration(worker_count=2, parameter_server_count=0)
    runs = [Experiment(ws, "ports").submit(ScriptRunConfig(str(src.path), script="show.py",
                                                           distributed_job_config=config))
            for _ in range(2)]
    ports = []
    for run in runs:
        run.wait_for_completion()
        ports += _tf_configs(run)[("worker", 0)]["cluster"]["worker"]
    assert len(set(ports)) == 4


@pytest.mark.tensorflow
def test_mwms_keras_job_trains_and_the_chief_saves(ws, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project)
    result = runyard_cli("run", "--workers", "2", "-e", "mwms", str(project / "tf_mwms.py"),
                         "--epochs", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "[worker 1] worker 1: 2 replicas" in result.stdout
    run = next(Experiment(ws, "mwms").get_runs())
    assert len(run.get_metrics()["loss"]) == 2
    assert "outputs/model/saved_model.pb" in run.get_file_names()


@pytest.mark.tensorflow
def test_parameter_server_job_with_a_chief(ws, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project)
    run = Experiment(ws, "ps").submit(ScriptRunConfig(
        str(project), script="tf_parameter_server.py", arguments=["--epochs", 2],
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=1,
                                                       chief=True)))
    assert run.wait_for_completion()["status"] == "Completed"
    assert len(run.get_metrics()["loss"]) == 2
    log = run._paths.std_log.read_text()
    assert "[chief 0] chief: done" in log and "[ps 0] ps 0: serving" in log


@pytest.mark.tensorflow
def test_a_rank_killed_mid_training_fails_the_run_and_stops_the_others(ws, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project)
    run = Experiment(ws, "killed").submit(ScriptRunConfig(
        str(project), script="tf_mwms.py",
        arguments=["--epochs", 50, "--fail-rank", 1, "--fail-at-epoch", 1],
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0)))
    details = run.wait_for_completion(raise_on_error=False)
    error = details["error"]["error"]
    assert details["status"] == "Failed"
    assert error["message"].startswith("Process worker 1 (rank 1) was killed by signal SIGKILL")
    assert "rank 1: dying on purpose" in error["logTail"]
    assert not any(pid_alive(pid) for pid in run._record["job_pgids"])
    loss = run.get_metrics().get("loss", [])
    assert len(loss if isinstance(loss, list) else [loss]) < 50  # stopped long before the end


@pytest.mark.tensorflow
def test_a_rank_that_never_starts_does_not_hang_its_peers(ws, src):
    src.write("half.py", """
        import json, os, sys
        task = json.loads(os.environ["TF_CONFIG"])["task"]
        if task["index"] == 1:
            sys.exit("worker 1 cannot start: missing data")
        import tensorflow as tf
        tf.distribute.MultiWorkerMirroredStrategy()  # waits for worker 1 forever on its own
    """)
    run = Experiment(ws, "never").submit(ScriptRunConfig(
        str(src.path), script="half.py",
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0)))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "Process worker 1 (rank 1) exited with code 1" in details["error"]["error"]["message"]
    assert "missing data" in details["error"]["error"]["logTail"]
    assert not any(pid_alive(pid) for pid in run._record["job_pgids"])


@pytest.mark.parametrize("kwargs, match", [
    ({"worker_count": 0}, "worker_count must be an integer of at least 1. Received: worker_count=0"),
    ({"worker_count": 1.5}, "Received: worker_count=1.5"),
    ({"parameter_server_count": -1}, "parameter_server_count must be an integer of at least 0")])
def test_bad_counts_are_refused(kwargs, match):
    with pytest.raises(UserErrorException, match=match):
        TensorflowConfiguration(**kwargs)


def test_multi_node_is_refused_on_the_local_target(ws, src):
    src.write("x.py", "")
    with pytest.raises(UserErrorException, match="node_count=2 needs a cluster compute target"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="x.py",
                                                   distributed_job_config=MpiConfiguration(node_count=2)))
    assert list(ws._registry.list_runs()) == []


def test_mpi_allreduce_job_with_rank_variables(ws, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project)
    result = runyard_cli("run", "--mpi", "--processes-per-node", "3", "-e", "mpi",
                         str(project / "mpi_allreduce.py"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for rank in range(3):
        assert f"[rank {rank}] rank {rank} of 3 (local rank {rank}): sum of ranks = 3" in result.stdout
    run = next(Experiment(ws, "mpi").get_runs())
    assert run.get_metrics()["sum_of_ranks"] == 3
    assert "user_logs/std_log_process_2.txt" in run.get_file_names()
    assert "sum of ranks = 3" in (run._paths.user_logs / "std_log_process_1.txt").read_text()


def test_a_failed_mpi_rank_fails_the_run_at_once(ws, src):
    src.write("rank_fails.py", """
        import os, time
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.Get_rank()
        print(f"rank {rank} up", flush=True)
        if rank == 1:
            print("rank 1: cannot read its shard", flush=True)
            os._exit(3)
        time.sleep(600)  # the other ranks would wait for a long time
    """)
    run = Experiment(ws, "mpi-fail").submit(ScriptRunConfig(
        str(src.path), script="rank_fails.py",
        distributed_job_config=MpiConfiguration(process_count_per_node=3)))
    details = run.wait_for_completion(raise_on_error=False)
    error = details["error"]["error"]
    assert error["message"] == "Process rank 1 exited with code 3."
    assert "cannot read its shard" in error["logTail"]
    assert (details["endTimeUtc"] and details["startTimeUtc"])
    assert not any(pid_alive(pid) for pid in run._record["job_pgids"])


@pytest.mark.tensorflow
def test_horovod_keras_job_in_its_own_environment(ws, tmp_path):
    """Horovod 0.28.1 builds only against TensorFlow <= 2.13: its own pinned environment,
    built once (uv caches Horovod's build), then a 2-rank job under mpirun."""
    from runyard.core import Environment
    from runyard.core.conda_dependencies import CondaDependencies

    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project)
    env = Environment("horovod-tf2.13")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["tensorflow-cpu==2.13.1", "horovod==0.28.1"], python_version="3.11")
    run = Experiment(ws, "horovod").submit(ScriptRunConfig(
        str(project), script="horovod_keras.py", environment=env,
        distributed_job_config=MpiConfiguration(process_count_per_node=2)))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", details.get("error")
    log = run._paths.std_log.read_text()
    assert "[rank 0] horovod rank 0 of 2: done" in log and "[rank 1] horovod rank 1 of 2: done" in log
    assert isinstance(run.get_metrics()["loss"], float)
    assert "building against the environment: horovod==0.28.1" in run._paths.preparing_log.read_text()


def test_cancel_and_deadline_stop_every_rank(ws, src):
    src.write("forever.py", """
        import os, time
        print("up", os.getpid(), flush=True)
        time.sleep(600)
    """)
    config = TensorflowConfiguration(worker_count=2, parameter_server_count=1)
    run = Experiment(ws, "stop").submit(ScriptRunConfig(str(src.path), script="forever.py",
                                                        distributed_job_config=config))
    from conftest import wait_until

    wait_until(lambda: run._paths.std_log.exists() and run._paths.std_log.read_text().count("up") == 3,
               timeout=60, message="all three processes to start")
    run.cancel()
    assert run.wait_for_completion()["status"] == "Canceled"
    assert not any(pid_alive(pid) for pid in run._record["job_pgids"])

    timed = Experiment(ws, "stop").submit(ScriptRunConfig(
        str(src.path), script="forever.py", max_run_duration_seconds=3,
        distributed_job_config=MpiConfiguration(process_count_per_node=2)))
    details = timed.wait_for_completion(raise_on_error=False)
    assert "max_run_duration_seconds=3" in details["error"]["error"]["message"]
    ranks = [int(line.split()[-1]) for line in timed._paths.std_log.read_text().splitlines()
             if " up " in line]
    assert len(ranks) == 2 and not any(pid_alive(pid) for pid in ranks)
