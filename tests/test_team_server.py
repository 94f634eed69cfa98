"""Team mode: a real `runyard server` on PostgreSQL and an S3-compatible store (moto), and
clients that have only its URL and the token. Each client runs in its own mount namespace
where the server's workspace folder and the database's folder are hidden (an empty tmpfs
over them), so it cannot reach the server's files even by accident."""

from __future__ import annotations

import io
import json
import tarfile
import time

import pytest
import requests

from conftest import pid_alive, runyard_cli, wait_until
from data_servers import free_port
from team import BUCKET, TeamServer, checked, client, client_process, result_of

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    server = TeamServer(tmp_path_factory.mktemp("team-server"))
    yield server
    server.stop()



SUBMIT = """
import json, sys
from pathlib import Path
from runyard.core import Experiment, ScriptRunConfig, Workspace

hidden = [Path(p) for p in sys.argv[1:]]
assert all(not any(p.iterdir()) for p in hidden), "the server's files are visible"
ws = Workspace.from_config()
src = Path("src")
src.mkdir(exist_ok=True)
(src / "train.py").write_text('''
import argparse, os, mlflow
from runyard.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
args = parser.parse_args()
run = Run.get_context()
for epoch in range(args.epochs):
    run.log("loss", 1.0 / (epoch + 1))
    print("epoch", epoch, flush=True)
run.log_table("summary", {"epoch": [0, 1], "acc": [0.5, 0.9]})
mlflow.log_metric("from_mlflow", 3.5)
os.makedirs("outputs", exist_ok=True)
open("outputs/result.txt", "w").write("trained on the server")
''')
run = Experiment(ws, "team").submit(
    ScriptRunConfig(source_directory=str(src), script="train.py", arguments=["--epochs", 4]),
    tags={"who": "client-a"})
details = run.wait_for_completion(show_output=True)
run.download_file("outputs/result.txt", "result.txt")
for step in range(3):
    run.log("after_the_run", step * 2.0)
run.flush()
print("RESULT " + json.dumps({
    "id": run.id, "status": details["status"], "metrics": run.get_metrics(),
    "files": run.get_file_names(), "result": open("result.txt").read(),
    "tags": run.tags, "listed": [r.id for r in Experiment(ws, "team").get_runs()]}))
"""


def test_a_client_with_only_the_server_url_submits_follows_and_reads_a_run(team, tmp_path):
    out = checked(client(team, tmp_path / "a", SUBMIT, *map(str, team.hidden())))
    got = result_of(out)
    assert "epoch 3" in out and "Execution Summary" in out  # streamed live through the server
    assert got["status"] == "Completed"
    assert got["metrics"]["loss"] == [1.0, 0.5, 1 / 3, 0.25]
    assert got["metrics"]["from_mlflow"] == 3.5  # the job's own mlflow calls reach the server
    assert got["metrics"]["summary"] == {"epoch": [0, 1], "acc": [0.5, 0.9]}
    assert got["metrics"]["after_the_run"] == [0.0, 2.0, 4.0]
    assert "outputs/result.txt" in got["files"] and got["result"] == "trained on the server"
    assert got["tags"]["who"] == "client-a" and got["id"] in got["listed"]

    # Where it all landed: artifacts in the S3 store, records in PostgreSQL.
    keys = [o["Key"] for o in team.moto.client().list_objects_v2(
        Bucket=BUCKET, Prefix="artifacts/team/")["Contents"]]
    assert any(k.endswith("/artifacts/outputs/result.txt") for k in keys)
    import sqlalchemy as sa

    engine = sa.create_engine(team.pg.url())
    with engine.connect() as conn:
        status = conn.execute(sa.text("select status from runyard_registry.runs where run_id = :r"),
                              {"r": got["id"]}).scalar()
        points = conn.execute(sa.text(
            "select count(*) from metrics m join runyard_registry.runs r on r.mlflow_run_id = m.run_uuid "
            "where r.run_id = :r and m.key = 'loss'"), {"r": got["id"]}).scalar()
    engine.dispose()
    assert status == "Completed" and points == 4
    assert not (tmp_path / "a" / "src" / "outputs").exists()  # it ran on the server

    # The CLI, configured by the same config.json, sees and follows the same run.
    env_dir = tmp_path / "a"
    listed = runyard_cli("runs", "list", cwd=env_dir, check=True,
                         env_extra={"RUNYARD_WORKSPACE_TOKEN": team.token})
    assert got["id"] in listed.stdout
    logs = runyard_cli("runs", "logs", got["id"], cwd=env_dir, check=True,
                       env_extra={"RUNYARD_WORKSPACE_TOKEN": team.token})
    assert "epoch 3" in logs.stdout

    # The run's page, behind the same token (a browser gives it as the password).
    page = f"{team.url}/runyard/runs/{got['id']}"
    assert requests.get(page, timeout=30).status_code == 401
    shown = requests.get(page, auth=("anyone", team.token), timeout=30)
    assert shown.status_code == 200 and "epoch 3" in requests.get(
        f"{team.url}/runyard/api/runs/{got['id']}/log", auth=("anyone", team.token), timeout=30).json()["text"]
    assert got["id"] in shown.text and "Completed" in shown.text


LOGGER = """
    import sys
    from runyard.core import Run, Workspace

    run = Run.get(Workspace.from_config(), sys.argv[1])
    name, count = sys.argv[2], int(sys.argv[3])
    for step in range(count):
        run.log(name, float(step))
    run.flush()
"""

SLEEPER = """
    from pathlib import Path
    from runyard.core import Experiment, ScriptRunConfig, Workspace

    Path("src").mkdir(exist_ok=True)
    Path("src/wait.py").write_text("import time\\nprint('waiting', flush=True)\\ntime.sleep(600)\\n")
    run = Experiment(Workspace.from_config(), "loggers").submit(
        ScriptRunConfig(source_directory="src", script="wait.py"))
    print("RESULT " + '"' + run.id + '"')
"""


def test_four_clients_logging_at_once_store_every_point_once(team, tmp_path):
    run_id = result_of(checked(client(team, tmp_path / "submit", SLEEPER)))
    points = 5000
    clients = [client_process(team, tmp_path / f"logger{i}", LOGGER, run_id, f"client{i}/loss",
                              str(points)) for i in range(4)]
    for proc in clients:  # all four started before any waits: they log at the same time
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err

    import sqlalchemy as sa

    engine = sa.create_engine(team.pg.url())
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select m.key, count(*), count(distinct m.step), min(m.step), max(m.step), "
            "sum(m.value) from metrics m join runyard_registry.runs r on r.mlflow_run_id = m.run_uuid "
            "where r.run_id = :r group by m.key order by m.key"), {"r": run_id}).all()
    engine.dispose()
    expected_sum = float(sum(range(points)))
    assert [tuple(r) for r in rows] == [
        (f"client{i}/loss", points, points, 0, points - 1, expected_sum) for i in range(4)]

    cancel = """
        import sys
        from runyard.core import Run, Workspace
        run = Run.get(Workspace.from_config(), sys.argv[1])
        run.cancel()
        run.wait_for_completion(raise_on_error=False)
        print("RESULT " + '"' + run.get_status() + '"')
    """
    assert result_of(checked(client(team, tmp_path / "cancel", cancel, run_id))) == "Canceled"


ENVIRONMENT = """
    from pathlib import Path
    from runyard.core import Environment, Experiment, ScriptRunConfig, Workspace
    from runyard.errors import UserErrorException

    ws = Workspace.from_config()
    env = Environment("team-env")
    env.python.user_managed_dependencies = True
    env.environment_variables = {"GREETING": "hello from the team env"}
    assert env.register(ws).version == "1" and env.register(ws).version == "1"  # unchanged
    env.environment_variables["GREETING"] = "hello from version 2"
    assert env.register(ws).version == "2"
    got = Environment.get(ws, "team-env")
    assert got.version == "2" and Environment.get(ws, "team-env", version=1).version == "1"
    assert Environment.list(ws)["team-env"].version == "2"
    try:
        Environment.get(ws, "no-such-env")
        raise AssertionError("a missing environment was found")
    except UserErrorException as exc:
        assert "team-env" in str(exc)  # the server's message, with the known names
    Path("src").mkdir(exist_ok=True)
    Path("src/hi.py").write_text("import os\\nprint(os.environ['GREETING'], flush=True)\\n")
    run = Experiment(ws, "envs").submit(
        ScriptRunConfig(source_directory="src", script="hi.py", environment=got))
    run.wait_for_completion(show_output=True)
"""


def test_environments_are_registered_and_used_through_the_server(team, tmp_path):
    out = checked(client(team, tmp_path / "env", ENVIRONMENT))
    assert "hello from version 2" in out


SWEEP = """
    import json
    from pathlib import Path
    from runyard.core import Experiment, ScriptRunConfig, Workspace
    from runyard.train.hyperdrive import (BanditPolicy, GridParameterSampling, HyperDriveConfig,
                                          HyperDriveRun, PrimaryMetricGoal, choice)

    ws = Workspace.from_config()
    Path("src").mkdir(exist_ok=True)
    Path("src/objective.py").write_text(
        "import argparse, time\\nfrom runyard.core import Run\\n"
        "p = argparse.ArgumentParser()\\np.add_argument('--quality', type=float)\\n"
        "a = p.parse_args()\\nrun = Run.get_context()\\n"
        "for i in range(1, 4):\\n    run.log('acc', a.quality * i)\\n    time.sleep(0.2)\\n")
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(source_directory="src", script="objective.py"),
        hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.3, 0.9)}),
        policy=BanditPolicy(slack_factor=0.5, delay_evaluation=5), primary_metric_name="acc",
        primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=5, max_concurrent_runs=2)
    sweep = Experiment(ws, "team-sweep").submit(config)
    sweep.wait_for_completion()
    best = sweep.get_best_run_by_primary_metric()
    print("RESULT " + json.dumps({
        "type": type(sweep).__name__, "status": sweep.get_status(),
        "children": [[c.id, c.get_status()] for c in sweep.get_children()],
        "hyperparameters": sorted(json.loads(v)["--quality"] for v in sweep.get_hyperparameters().values()),
        "best": best.id, "best_acc": best.get_metrics()["acc"],
        "sorted": [r["best_primary_metric"] for r in sweep.get_children_sorted_by_primary_metric()]}))
"""


def test_a_sweep_is_submitted_followed_and_read_through_the_server(team, tmp_path):
    result = result_of(checked(client(team, tmp_path / "sweep", SWEEP)))
    assert result["type"] == "HyperDriveRun" and result["status"] == "Completed", result
    assert [status for _, status in result["children"]] == ["Completed", "Completed"]
    assert result["hyperparameters"] == [0.3, 0.9]
    assert result["best"] == result["children"][1][0] and result["best_acc"] == [0.9, 1.8, 2.7]
    assert result["sorted"] == [2.7, 0.8999999999999999]


MODELS = """
    import json
    from pathlib import Path
    from runyard.core import Experiment, Model, ScriptRunConfig, Workspace
    from runyard.errors import ModelNotFoundException

    ws = Workspace.from_config()
    Path("src").mkdir(exist_ok=True)
    Path("src/save.py").write_text(
        "import os\\nos.makedirs('outputs/model/variables', exist_ok=True)\\n"
        "open('outputs/model/saved_model.pb', 'w').write('graph')\\n"
        "open('outputs/model/variables/data', 'w').write('weights')\\n")
    run = Experiment(ws, "models").submit(ScriptRunConfig(source_directory="src", script="save.py"))
    run.wait_for_completion()
    Path("src/resume.py").write_text(
        "import sys\\nfrom runyard.core import Run\\n"
        "folder = sys.argv[sys.argv.index('--resume-from') + 1]\\n"
        "Run.get_context().tag('weights', open(folder + '/model/variables/data').read())\\n")
    resumed = Experiment(ws, "models").submit(ScriptRunConfig(
        source_directory="src", script="resume.py", resume_from=run._get_outputs_datapath()))
    resumed.wait_for_completion()
    first = run.register_model("team-model", model_path="outputs/model", tags={"stage": "dev"},
                               model_framework=Model.Framework.TENSORFLOW)
    Path("local.txt").write_text("a local model file")
    second = Model.register(ws, model_path="local.txt", model_name="team-model")
    got = Model(ws, "team-model", version=1)
    folder = Path(got.download("dl"))
    try:
        Model(ws, "no-such-model")
        raise AssertionError("a missing model was found")
    except ModelNotFoundException as exc:
        missing = str(exc)
    got.add_tags({"stage": "prod", "owner": "team"})
    got.remove_tags("owner")
    got.add_properties({"accuracy": "0.9"})
    got.update(description="the team's model")
    second_text = Path(Model(ws, "team-model").download("dl2")).read_text()
    listed = [m.version for m in Model.list(ws, name="team-model")]
    second.delete()
    print("RESULT " + json.dumps({
        "versions": [first.version, second.version],
        "listed": listed,
        "run_id": got.run_id, "tags": first.tags, "framework": got.model_framework,
        "files": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
        "weights": (folder / "variables" / "data").read_text(),
        "second": second_text, "missing": missing, "run": run.id,
        "resumed_with": resumed.get_tags().get("weights"),
        "after": [m.version for m in Model.list(ws, name="team-model")],
        "changed": {k: v for k, v in Model(ws, "team-model", version=1).serialize().items()
                    if k in ("tags", "properties", "description")}}))
"""


def test_models_are_registered_listed_and_downloaded_through_the_server(team, tmp_path):
    got = result_of(checked(client(team, tmp_path / "models", MODELS)))
    assert got["versions"] == [1, 2] and got["listed"] == [2, 1]
    assert got["run_id"] == got["run"] and got["tags"] == {"stage": "dev"}
    assert got["framework"] == "TensorFlow"
    assert got["files"] == ["saved_model.pb", "variables/data"] and got["weights"] == "weights"
    assert got["second"] == "a local model file"
    assert got["resumed_with"] == "weights"  # the first run's outputs, fetched through the server
    assert "team-model" in got["missing"]
    assert got["after"] == [1]  # version 2 deleted
    assert got["changed"] == {"tags": {"stage": "prod"}, "properties": {"accuracy": "0.9"},
                              "description": "the team's model"}
    # Stored on the server, and in MLflow's model registry there.
    assert (team.workspace_dir / "models" / "team-model" / "1" / "model" / "saved_model.pb").exists()
    versions = requests.get(f"{team.url}/api/2.0/mlflow/model-versions/search",
                            params={"filter": "name='team-model'"}, timeout=10,
                            headers={"Authorization": f"Bearer {team.token}"}).json()
    assert [(v["version"], {t["key"]: t["value"] for t in v.get("tags", [])}.get("stage"))
            for v in versions["model_versions"]] == [("1", "prod")]  # tags mirrored, 2 deleted


COMPUTE = """
    import json
    from pathlib import Path
    from runyard.core import Experiment, ScriptRunConfig, Workspace
    from runyard.core.compute import AmlCompute, ComputeTarget
    from runyard.core.compute_target import ComputeTargetException
    from runyard.core.runconfig import TensorflowConfiguration

    ws = Workspace.from_config()
    # The seed page's compute flow, from a client.
    cluster_name = "gpu-cluster"
    try:
        compute_target = ComputeTarget(workspace=ws, name=cluster_name)
        raise AssertionError("found a compute target that was never created")
    except ComputeTargetException as exc:
        missing = str(exc)
    compute_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6", max_nodes=2)
    compute_target = ComputeTarget.create(ws, cluster_name, compute_config)
    compute_target.wait_for_completion(show_output=True, min_node_count=2, timeout_in_minutes=5)
    nodes = compute_target.list_nodes()
    Path("src").mkdir(exist_ok=True)
    Path("src/task.py").write_text(
        "import json, os\\nprint('task', json.loads(os.environ['TF_CONFIG'])['task'], flush=True)\\n")
    run = Experiment(ws, "team-ray").submit(ScriptRunConfig(
        source_directory="src", script="task.py", compute_target=compute_target,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0)))
    details = run.wait_for_completion(show_output=True)
    record = ws.backend.compute.get(cluster_name)
    print("RESULT " + json.dumps({
        "missing": missing, "status": compute_target.get_status().serialize(),
        "nodes": nodes, "listed": [t.name for t in ComputeTarget.list(ws)],
        "run_nodes": details["properties"]["runyard.nodes"], "run_status": details["status"],
        "secret": record["secret"], "max_nodes": compute_target.max_nodes}))
"""
DELETE_COMPUTE = """
    from runyard.core import Workspace
    from runyard.core.compute import ComputeTarget
    from runyard.core.compute_target import ComputeTargetException

    ws = Workspace.from_config()
    for target in ComputeTarget.list(ws):
        target.delete()
    try:
        ComputeTarget(ws, "gpu-cluster")
        raise AssertionError("a deleted compute target was found")
    except ComputeTargetException:
        print("deleted")
"""


@pytest.mark.ray
def test_the_seed_compute_flow_runs_through_the_server(team, tmp_path):
    import psutil

    folder = tmp_path / "compute"
    try:
        got = result_of(checked(client(team, folder, COMPUTE)))
        assert "gpu-cluster" in got["missing"] and "local" in got["missing"]
        assert got["status"]["provisioningState"] == "Succeeded"
        assert got["status"]["currentNodeCount"] == 2 and got["max_nodes"] == 2
        node_ids = {n["nodeId"] for n in got["nodes"]}
        assert len(node_ids) == 2 and got["listed"] == ["gpu-cluster"]
        assert got["run_status"] == "Completed" and set(got["run_nodes"].split(",")) == node_ids
        assert got["secret"] is None  # the cluster's Ray token stays on the server
        listed = runyard_cli("compute", "list", "--json", cwd=folder, check=True,
                             env_extra={"RUNYARD_WORKSPACE_TOKEN": team.token})
        assert [t["name"] for t in json.loads(listed.stdout)] == ["gpu-cluster"]
        # The cluster runs on the server's machine, started by the server.
        import sqlalchemy as sa

        with sa.create_engine(team.pg.url()).connect() as conn:
            processes = json.loads(conn.execute(sa.text(
                "select processes from runyard_registry.compute_targets where name = 'gpu-cluster'")).scalar())
        assert processes and all(psutil.pid_exists(p["pid"]) for p in processes)
    finally:
        assert "deleted" in checked(client(team, folder, DELETE_COMPUTE))
    assert not any(pid_alive(p["pid"]) for p in processes)  # (init reaps the zombies later)


DEPLOY = r"""
    import json
    from pathlib import Path
    from runyard.core import Environment, Model, Workspace
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import AciWebservice, Webservice
    from runyard.errors import WebserviceException

    ws = Workspace.from_config()
    Path("weights.json").write_text(json.dumps({"weights": [1, 2]}))
    model = Model.register(ws, model_path="weights.json", model_name="weights")
    Path("src").mkdir(exist_ok=True)
    score = (
        "import json, os\n"
        "def init():\n"
        "    global weights\n"
        "    path = os.path.join(os.environ['AZUREML_MODEL_DIR'], 'weights.json')\n"
        "    weights = json.load(open(path))['weights']\n"
        "    print('init with', weights, flush=True)\n"
        "def run(raw_data):\n"
        "    rows = json.loads(raw_data)['data']\n"
        "    return {'result': [sum(w * x for w, x in zip(weights, r)) for r in rows], 'version': VERSION}\n")
    Path("src/score.py").write_text(score + "VERSION = 1\n")
    env = Environment("serve-env")
    env.python.user_managed_dependencies = True
    config = InferenceConfig(entry_script="score.py", source_directory="src", environment=env)
    service = Model.deploy(ws, "team-svc", [model], inference_config=config,
                           deployment_config=AciWebservice.deploy_configuration(auth_enabled=True))
    service.wait_for_deployment(show_output=True)
    first = service.run(json.dumps({"data": [[1, 1], [2, 0]]}))
    Path("src/score.py").write_text(score + "VERSION = 2\n")
    service.update(inference_config=InferenceConfig(entry_script="score.py", source_directory="src",
                                                    environment=env))
    service.wait_for_deployment()
    second = service.run({"data": [[1, 1]]})
    open_service = Model.deploy(ws, "team-open", [model], inference_config=config)
    open_service.wait_for_deployment()
    try:
        Webservice(ws, "no-such-svc")
        missing = ""
    except WebserviceException as exc:
        missing = str(exc)
    print("RESULT " + json.dumps({
        "first": first, "second": second, "scoring_uri": service.scoring_uri,
        "keys": list(service.get_keys()), "logs": service.get_logs(),
        "open_uri": open_service.scoring_uri, "open": open_service.run({"data": [[3, 0]]}),
        "listed": sorted(s.name for s in Webservice.list(ws)), "missing": missing,
        "state": Webservice(ws, "team-svc").state}))
"""
DELETE_ENDPOINTS = """
    from runyard.core import Workspace
    from runyard.core.webservice import Webservice

    ws = Workspace.from_config()
    for service in Webservice.list(ws):
        service.delete()
    print("left", Webservice.list(ws))
"""


def test_endpoints_are_deployed_scored_and_deleted_through_the_server(team, tmp_path):
    import psutil
    import sqlalchemy as sa

    folder = tmp_path / "deploy"
    pids = []
    try:
        out = checked(client(team, folder, DEPLOY))
        got = result_of(out)
        assert "init with [1, 2]" in out  # wait_for_deployment(show_output=True) streamed the log
        assert got["first"] == {"result": [3, 2], "version": 1}
        assert got["second"] == {"result": [3], "version": 2}
        assert got["state"] == "Healthy" and got["listed"] == ["team-open", "team-svc"]
        assert "init with" in got["logs"] and "team-svc" in got["missing"]
        assert got["open"] == {"result": [3], "version": 2}  # the folder as it was at deploy time
        # The endpoints run on the server's machine.
        with sa.create_engine(team.pg.url()).connect() as conn:
            pids = [row[0] for row in conn.execute(sa.text("select pid from runyard_registry.endpoints"))]
        assert len(pids) == 2 and all(psutil.pid_exists(pid) for pid in pids)
        _score_from_anywhere(team, got)
    finally:  # deleting them from a client stops them
        assert "left []" in checked(client(team, folder, DELETE_ENDPOINTS))
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), 20,
               message="the endpoints' servers to stop")


def _score_from_anywhere(team, got):
    """Scoring goes through the server's port: with the service's key and nothing else, or
    for a service without keys, with the workspace token."""
    uri = got["scoring_uri"]
    assert uri == f"{team.url}/endpoints/team-svc/score"
    body = {"data": [[0, 1]]}
    answer = requests.post(uri, json=body, timeout=30, headers={"Authorization": f"Bearer {got['keys'][0]}"})
    assert answer.status_code == 200 and answer.json() == {"result": [2], "version": 2}
    # Without the key or the token, one answer for a keyed service, a service without keys
    # and a name that does not exist: names cannot be probed.
    refused = [requests.post(uri, json=body, timeout=30),
               requests.post(uri, json=body, timeout=30, headers={"Authorization": "Bearer wrong"}),
               requests.post(got["open_uri"], json=body, timeout=30),
               requests.post(f"{team.url}/endpoints/no-such-svc/score", json=body, timeout=30)]
    assert {(r.status_code, r.text) for r in refused} == {(401, refused[0].text)}
    with_token = {"Authorization": f"Bearer {team.token}"}
    missing = requests.post(f"{team.url}/endpoints/no-such-svc/score", json=body, timeout=30,
                            headers=with_token)
    assert missing.status_code == 404 and "team-svc" not in missing.text  # names not listed
    answer = requests.post(got["open_uri"], json=body, timeout=30, headers=with_token)
    assert answer.status_code == 200 and answer.json()["result"] == [2]
    answer = requests.post(uri, json=body, timeout=30, headers=with_token)  # keyed, with the token
    assert answer.status_code == 200 and answer.json()["result"] == [2]


DATA = r"""
    import json, os
    from pathlib import Path
    from runyard.core import Dataset, Datastore, Experiment, ScriptRunConfig, Workspace
    from runyard.errors import UserErrorException

    ws = Workspace.from_config()
    Path("data/sub").mkdir(parents=True, exist_ok=True)
    Path("data/a.txt").write_text("alpha")
    Path("data/sub/b.txt").write_text("beta")
    datastore = ws.get_default_datastore()
    uploaded = Dataset.File.upload_directory("data", (datastore, "team-data"), show_progress=True)
    errors = {}
    try:
        Dataset.File.upload_directory("data", (datastore, "team-data"), show_progress=False)
    except UserErrorException as exc:
        errors["again"] = str(exc)
    try:
        Dataset.File.from_files("data").register(ws, "local-data")
    except UserErrorException as exc:
        errors["local"] = str(exc)
    dataset = Dataset.File.from_files((datastore, "team-data/**"))
    paths = dataset.to_path()
    registered = dataset.register(ws, "team-data", description="uploaded by a client",
                                  create_new_version=True)
    got = Dataset.get_by_name(ws, "team-data")
    downloaded = sorted(Path(p).relative_to(Path("dl").absolute()).as_posix()
                        for p in got.download("dl"))
    count = Datastore.get(ws, datastore.name).download("dl2", prefix="team-data")
    Path("src").mkdir(exist_ok=True)
    Path("src/read.py").write_text(
        "import os, sys\n"
        "root = sys.argv[1]\n"
        "for name in sorted(os.listdir(root)):\n"
        "    path = os.path.join(root, name)\n"
        "    if os.path.isfile(path):\n"
        "        print('read', name, open(path).read(), flush=True)\n")
    run = Experiment(ws, "team-data").submit(ScriptRunConfig(
        source_directory="src", script="read.py", arguments=[got.as_named_input("team").as_mount()]))
    run.wait_for_completion(show_output=True)
    with uploaded.mount() as mounted:
        mounted_files = sorted(os.listdir(mounted.mount_point))
    print("RESULT " + json.dumps({
        "paths": paths, "version": registered.version, "got": [got.name, got.version, got.description],
        "downloaded": downloaded, "count": count, "errors": errors, "mounted": mounted_files,
        "listed": sorted(Dataset.get_all(ws)), "datastore": repr(datastore)}))
"""


def test_datastores_and_datasets_through_the_server(team, tmp_path):
    out = checked(client(team, tmp_path / "data", DATA))
    got = result_of(out)
    assert got["paths"] == ["/a.txt", "/sub/b.txt"]
    assert got["version"] == 1 and got["got"] == ["team-data", 1, "uploaded by a client"]
    assert got["downloaded"] == ["a.txt", "sub/b.txt"] and got["count"] == 2
    assert got["mounted"] == ["a.txt", "sub"] and got["listed"] == ["team-data"]
    assert "already has" in got["errors"]["again"]
    assert "upload_directory" in got["errors"]["local"]
    assert "read a.txt alpha" in out  # the run on the server read the registered files
    # The files are in the server's default datastore, a folder of its workspace.
    stored = team.workspace_dir / "datastores" / "workspaceblobstore" / "team-data"
    assert (stored / "a.txt").read_text() == "alpha" and (stored / "sub" / "b.txt").read_text() == "beta"


def test_the_server_refuses_requests_without_the_token_and_never_logs_it(team, tmp_path):
    guarded = ["/api/runyard/v1/workspace", "/api/runyard/v1/runs",
               "/api/2.0/mlflow/experiments/search?max_results=10", "/",
               "/api/2.0/mlflow-artifacts/artifacts"]
    for path in guarded:
        assert requests.get(team.url + path, timeout=10).status_code == 401, path
        wrong = requests.get(team.url + path, timeout=10, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, path
    assert requests.put(f"{team.url}/api/runyard/v1/snapshots/{'0' * 64}", data=b"x",
                        timeout=10).status_code == 401
    assert requests.get(f"{team.url}/health", timeout=10).ok
    # MLflow's own clients (bearer) and a browser (Basic, the token as password) get in.
    bearer = {"Authorization": f"Bearer {team.token}"}
    assert requests.get(f"{team.url}/api/2.0/mlflow/experiments/search?max_results=10",
                        headers=bearer, timeout=10).ok
    assert requests.get(f"{team.url}/api/runyard/v1/experiments", auth=("anyone", team.token),
                        timeout=10).ok

    # A tampered snapshot upload is refused whole.
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(f"blobs/{'a' * 64}")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    refused = requests.put(f"{team.url}/api/runyard/v1/snapshots/{'b' * 64}",
                           data=archive.getvalue(), headers=bearer, timeout=10)
    assert refused.status_code == 400 and "sha256" in refused.json()["message"]
    assert not (team.workspace_dir / "snapshots" / "blobs" / "aa").exists()

    denied = client(team, tmp_path / "denied", """
        from runyard.core import Experiment, Workspace
        list(Experiment(Workspace.from_config(), "team").get_runs())
    """, token="wrong-token-wrong-token")
    assert denied.returncode != 0 and "RUNYARD_WORKSPACE_TOKEN" in denied.stderr

    # Nothing the server or its runs wrote holds the token: logs, run folders, artifacts.
    time.sleep(0.5)
    token = team.token.encode()
    for path in team.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert token not in path.read_bytes(), f"the token is in {path}"
    s3 = team.moto.client()
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        assert token not in s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read(), obj["Key"]


def test_errors_answer_their_status_and_come_back_as_their_class(team):
    """Not found is 404, a taken name 409, bad input 400, each with a code; the client raises
    the class the server raised (the v1 names users catch)."""
    from runyard.errors import (
        AlreadyExistsError,
        ComputeTargetException,
        ModelNotFoundException,
        NotFoundError,
        UserErrorException,
    )
    from runyard.server.client import ServerClient

    api, bearer = f"{team.url}/api/runyard/v1", {"Authorization": f"Bearer {team.token}"}
    for path, exception in (("/models/one?name=nope", "ModelNotFoundException"),
                            ("/runs/nope", "RunNotFoundError"),
                            ("/compute/one?name=nope", "ComputeTargetNotFoundError"),
                            ("/datasets/one?name=nope", "NotFoundError")):
        answer = requests.get(api + path, headers=bearer, timeout=30)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error_code"] == "NOT_FOUND" and answer.json()["exception"] == exception
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("codes/x.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    upload = lambda: requests.put(f"{api}/datastores/files", params={"name": "workspaceblobstore"},  # noqa: E731
                                  data=archive.getvalue(), headers=bearer, timeout=30)
    assert upload().status_code == 200
    taken = upload()
    assert taken.status_code == 409 and taken.json()["error_code"] == "ALREADY_EXISTS"
    bad = requests.get(f"{api}/runs/nope/logs/nope", headers=bearer, timeout=30)
    assert bad.status_code == 404
    bad = requests.post(f"{api}/runs", json=[], headers=bearer, timeout=30)
    assert bad.status_code == 400 and bad.json()["error_code"] == "BAD_REQUEST"
    server = ServerClient(team.url, team.token)
    with pytest.raises(ModelNotFoundException) as info:
        server.get("/models/one", name="nope")
    assert isinstance(info.value, NotFoundError) and isinstance(info.value, LookupError)
    with pytest.raises(ComputeTargetException):  # still the v1 class
        server.get("/compute/one", name="nope")
    with pytest.raises(AlreadyExistsError):
        server.request("PUT", "/datastores/files", params={"name": "workspaceblobstore"},
                       data=archive.getvalue())
    with pytest.raises(UserErrorException):
        server.post("/runs", [])


def test_serving_beyond_loopback_needs_a_token():
    result = runyard_cli("server", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "RUNYARD_SERVER_TOKEN" in result.stderr and "--no-token" in result.stderr


def test_a_workspace_with_runs_is_not_moved_to_another_store(tmp_path, ws):
    import time as _time

    from runyard.runs.status import RunStatus

    ws._registry.insert_run(run_id="old_1_abc", experiment="old", status=RunStatus.COMPLETED,
                            target="local", created_at=_time.time(), spec={}, tags={},
                            properties={}, history=[])
    result = runyard_cli("server", "--workspace-dir", str(ws.folder), "--port", str(free_port()),
                         "--backend-store-uri", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2 and "would leave them behind" in result.stderr
    assert "stores" not in json.loads((ws.folder / "workspace.json").read_text())


LIVE = """
import json
from pathlib import Path
from runyard.core import Experiment, ScriptRunConfig, Workspace

src = Path("src")
src.mkdir(exist_ok=True)
(src / "train.py").write_text('''
import time
for tick in range(80):
    print("tick", tick, flush=True)
    time.sleep(0.25)
''')
run = Experiment(Workspace.from_config(), "team-live").submit(ScriptRunConfig(str(src), script="train.py"))
print("RESULT " + json.dumps({"id": run.id, "name": run.display_name}))
"""


@pytest.mark.browser
def test_the_team_servers_pages_in_a_browser_behind_its_token(team, tmp_path, browser):
    """The same pages as `runyard ui`, served by `runyard server`: the browser answers the Basic
    prompt with the token (given once, in the first address), then follows a live run."""
    from browser import shot, text, wait_for_text

    got = result_of(checked(client(team, tmp_path / "live", LIVE)))
    # Scripts refuse addresses holding credentials: the token goes in once, on the console (no
    # script needed); the browser then keeps it for the site, as after answering the prompt.
    browser.get(team.url.replace("http://", f"http://anyone:{team.token}@") + "/runyard/")
    wait_for_text(browser, "Registered models")
    assert got["name"] in text(browser) and team.token not in browser.page_source
    browser.get(f"{team.url}/")
    wait_for_text(browser, "team-live")  # MLflow's first page: the experiments
    shot(browser, "10-team-server-first-page")
    browser.get(f"{team.url}/runyard/runs/{got['id']}")
    wait_for_text(browser, "tick 3")
    page = text(browser)
    assert got["name"] in page and "Running" in page  # followed live, before the run ends
    shot(browser, "11-team-server-live-run")
    wait_for_text(browser, "tick 79", timeout=120)
    wait_for_text(browser, "Completed")


INTERACTIVE = """
import json
from pathlib import Path
from runyard.core import Experiment, Workspace

with Experiment(Workspace.from_config(), "team-notebook").start_logging() as run:
    for step in range(3):
        run.log("loss", 1.0 / (step + 1))
    Path("outputs").mkdir()
    Path("outputs/note.txt").write_text("from the notebook")
print("RESULT " + json.dumps({"status": run.get_status(), "metrics": run.get_metrics(),
                              "files": run.get_file_names()}))
"""


def test_an_interactive_run_from_a_client_of_the_server(team, tmp_path):
    got = result_of(checked(client(team, tmp_path / "nb", INTERACTIVE)))
    assert got["status"] == "Completed" and got["metrics"] == {"loss": [1.0, 0.5, 1 / 3]}
    assert "outputs/note.txt" in got["files"]
