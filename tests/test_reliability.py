"""Faults a workspace on one machine must survive: many first submits at once, a full disk,
MPI ranks that leave children behind, a cancel in the middle of an environment build, a
supervisor killed while its job logs, damaged stores, an endpoint server killed, and the
small wrong inputs that used to slip through. Each ends in a clear state and leaves no
process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import requests

from conftest import pid_alive, runyard_cli, wait_until
from runyard.core import Environment, Experiment, Run, ScriptRunConfig, Workspace
from runyard.errors import SnapshotException, UserErrorException


def _cli(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runyard.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_many_first_submits_at_once_all_succeed(ws, src):
    src.write("quick.py", "print('quick')\n")
    for batch in (12, 12):  # a fresh workspace first (its stores created once), then a warm one
        submits = [_cli("run", "--detach", "-e", "crowd", str(src.path / "quick.py"), cwd=src.path)
                   for _ in range(batch)]
        outputs = [proc.communicate(timeout=300) for proc in submits]
        failed = [err for proc, (_, err) in zip(submits, outputs, strict=True) if proc.returncode != 0]
        assert not failed, failed[0]
        assert not any("Traceback" in err or "locked" in err for _, err in outputs)
    runs = list(Experiment(ws, "crowd").get_runs())
    assert len(runs) == 24
    for run in runs:
        assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run.id


# -- a full disk ---------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A 20 MB file system holding the workspace (a real tmpfs; the test runs as root)."""
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)], check=True)
    monkeypatch.setenv("RUNYARD_HOME", str(disk / "home"))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


FULL_DISK_SCRIPTS = {
    "output": ("import sys\nfor i in range(30 * 1024):\n    sys.stdout.write('x' * 1023 + '\\n')\n",
               "writing the job's output to user_logs"),
    "outputs": ("import os\nos.makedirs('outputs', exist_ok=True)\n"
                "open('outputs/big.bin', 'wb').write(os.urandom(12 * 1024 * 1024))\n",
                "copying ./outputs to the run's artifacts"),
    "metrics": ("from runyard.core import Run\nrun = Run.get_context()\n"
                "for i in range(390000):\n    run.log('loss', i * 0.001)\n", None),
}


@pytest.mark.parametrize("case", sorted(FULL_DISK_SCRIPTS))
def test_a_full_disk_fails_the_run_naming_it(small_disk, src, case):
    body, what = FULL_DISK_SCRIPTS[case]
    src.write("fill.py", body)
    ws = Workspace.from_config()
    run = Experiment(ws, "disk").submit(ScriptRunConfig(str(src.path), script="fill.py"))
    details = run.wait_for_completion(raise_on_error=False)  # never Running until cancelled
    error = details["error"]["error"]
    assert details["status"] == "Failed" and error["code"] == "DiskFull", error
    assert "is full" in error["message"] and str(ws.folder) in error["message"]
    if what is not None:
        assert what in error["message"]
    # The job was stopped, not left blocked on its pipe; no partial file was published.
    record = run._refresh()
    assert not any(pid_alive(pid) for pid in record.get("job_pgids") or [])
    assert not any(name.startswith("outputs/") for name in run.get_file_names())


# -- MPI ranks and what they leave behind -----------------------------------------------------
MPI_LEFTOVERS = """
import os, subprocess, sys, time
rank = int(os.environ["RANK"])
# a child that leaves the rank's process group and session, as daemons do
child = subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(600)"])
open(f"{pids}/{{rank}}", "w").write(f"{{os.getpid()}} {{child.pid}}")
print("rank", rank, "started a child", flush=True)
mode = sys.argv[1]
if mode == "rank1-dies" and rank == 1:
    time.sleep(1)
    os.kill(os.getpid(), 9)
if mode == "wait":
    time.sleep(600)
"""


def _mpi_run(ws, src, tmp_path, mode: str):
    from runyard.core.runconfig import MpiConfiguration

    pids = tmp_path / f"pids-{mode}"
    pids.mkdir()
    src.write("ranks.py", MPI_LEFTOVERS.format(pids=pids))
    run = Experiment(ws, "mpi-leftovers").submit(ScriptRunConfig(
        str(src.path), script="ranks.py", arguments=[mode],
        distributed_job_config=MpiConfiguration(process_count_per_node=2)))
    return run, pids


def _leftovers(pids: Path) -> list[int]:
    found = [int(p) for f in pids.glob("*") for p in f.read_text().split()]
    return [p for p in found if pid_alive(p)]


def test_mpi_rank_children_are_stopped_with_the_job(ws, src, tmp_path):
    run, pids = _mpi_run(ws, src, tmp_path, "rank1-dies")
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed" and "rank 1" in details["error"]["error"]["message"]
    assert len(list(pids.glob("*"))) == 2 and _leftovers(pids) == []


def test_ranks_that_exit_leaving_a_child_end_the_job(ws, src, tmp_path):
    run, pids = _mpi_run(ws, src, tmp_path, "exit")  # mpirun would wait on the children's pipes
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed"
    assert _leftovers(pids) == []


def test_cancel_stops_every_rank_and_their_children(ws, src, tmp_path):
    run, pids = _mpi_run(ws, src, tmp_path, "wait")
    wait_until(lambda: len(list(pids.glob("*"))) == 2, 60, message="both ranks to start")
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    assert _leftovers(pids) == []


# -- cancel while the environment builds ---------------------------------------------------------
SLOW_BACKEND = """
import os, time
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    open(os.path.join({marker!r}, str(os.getpid())), "w").close()
    time.sleep(300)  # an sdist that takes minutes to build
    raise RuntimeError("too slow")
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return prepare_metadata_for_build_wheel(wheel_directory)
"""


def test_cancel_during_preparing_stops_the_build_at_once(ws, src, tmp_path):
    from runyard.core.conda_dependencies import CondaDependencies

    package, marker = tmp_path / "slowpkg", tmp_path / "building"
    package.mkdir()
    marker.mkdir()
    (package / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]
        [project]
        name = "slowpkg"
        version = "1.0"
    """))
    (package / "backend.py").write_text(SLOW_BACKEND.format(marker=str(marker)))
    src.write("t.py", "print('never runs')\n")
    env = Environment("slow-build")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=[f"slowpkg @ {package.as_uri()}"], python_version=f"{sys.version_info[0]}.{sys.version_info[1]}")
    run = Experiment(ws, "slow").submit(ScriptRunConfig(str(src.path), script="t.py", environment=env))
    builder = int(wait_until(lambda: next((p.name for p in marker.iterdir()), None), 120,
                             message="the build to start"))
    run.cancel()
    asked = time.monotonic()
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled" and time.monotonic() - asked < 30
    wait_until(lambda: not pid_alive(builder), 10, message="the build to stop")
    supervisor = run._refresh()["supervisor_pid"]
    wait_until(lambda: not pid_alive(supervisor), 30, message="the supervisor to end")


def test_cancel_of_a_finishing_run_does_nothing(ws, src):
    src.write("t.py", "print('done')\n")
    run = Experiment(ws, "finishing").submit(ScriptRunConfig(str(src.path), script="t.py"))
    run.wait_for_completion()
    registry = ws._registry
    registry.update_run(run.id, status="Finalizing")  # as a run is while its outputs go up
    run.cancel()  # v1: a no-op, not an error
    assert registry.get_run(run.id)["status"].value == "Finalizing"
    registry.update_run(run.id, status="Completed")


# -- a supervisor killed while its job logs ----------------------------------------------------
LOGGING_FAST = """
import time
from runyard.core import Run
run = Run.get_context()
i = 0
while True:
    run.log("tick", i)
    i += 1
    time.sleep(0.001)
"""


def test_every_point_written_before_the_supervisor_died_is_kept(ws, src):
    src.write("ticks.py", LOGGING_FAST)
    run = Experiment(ws, "ticks").submit(ScriptRunConfig(str(src.path), script="ticks.py"))
    wait_until(lambda: len(run.get_metrics().get("tick") or []) > 500, 60, message="points to arrive")
    os.kill(run._refresh()["supervisor_pid"], signal.SIGKILL)  # its job dies with it
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    written = sum(1 for path in run._paths.metrics_dir.glob("*.jsonl")  # (also the supervisor's samples)
                  for line in path.read_bytes().splitlines() if json.loads(line).get("n") == "tick")
    assert len(run.get_metrics()["tick"]) == written  # each written point stored, once


# -- damaged stores ------------------------------------------------------------------------------
def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_damaged_stores_are_named_in_one_line_and_never_replaced(ws, src, tmp_path):
    src.write("t.py", "print('hi')\n")
    runyard_cli("run", str(src.path / "t.py"), check=True, cwd=src.path)
    backups = {name: (ws.folder / name).read_bytes() for name in ("mlflow.db", "runyard.db")}

    def damage(name: str, how) -> None:
        for suffix in ("-wal", "-shm"):
            (ws.folder / f"{name}{suffix}").unlink(missing_ok=True)
        how(ws.folder / name)

    damage("mlflow.db", lambda p: os.truncate(p, 2000))
    assert "is damaged" in _one_line_error(runyard_cli("run", str(src.path / "t.py"), cwd=src.path))
    damage("mlflow.db", lambda p: p.write_bytes(b""))  # 0 bytes: it held every run's history
    error = _one_line_error(runyard_cli("run", str(src.path / "t.py"), cwd=src.path))
    assert "is empty" in error and "Restore mlflow.db" in error
    assert (ws.folder / "mlflow.db").stat().st_size == 0  # not silently made anew
    damage("mlflow.db", lambda p: p.unlink())
    assert "is missing" in _one_line_error(runyard_cli("run", str(src.path / "t.py"), cwd=src.path))
    (ws.folder / "mlflow.db").write_bytes(backups["mlflow.db"])
    damage("runyard.db", lambda p: os.truncate(p, 3000))
    assert "registry" in _one_line_error(runyard_cli("runs", "list"))
    (ws.folder / "runyard.db").write_bytes(backups["runyard.db"])
    (tmp_path / "config.json").write_bytes(os.urandom(200))
    assert "config.json" in _one_line_error(runyard_cli("runs", "list", cwd=tmp_path))
    (tmp_path / "config.json").unlink()
    marker = (ws.folder / "workspace.json").read_bytes()
    (ws.folder / "workspace.json").write_bytes(b"\x00\xff not json")
    assert "workspace.json" in _one_line_error(runyard_cli("runs", "list"))
    (ws.folder / "workspace.json").write_bytes(marker)
    # Restored from their backups, the stores hold the runs they held.
    listed = runyard_cli("runs", "list", check=True)
    assert "Completed" in listed.stdout


# -- endpoints come back by themselves ---------------------------------------------------------
def test_a_killed_endpoint_server_comes_back_on_the_same_port(ws, tmp_path):
    from runyard.core import Model
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import LocalWebservice

    (tmp_path / "weights.txt").write_text("2")
    model = Model.register(ws, model_path=str(tmp_path / "weights.txt"), model_name="doubler")
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "score.py").write_text(
        "import json\ndef init():\n    pass\ndef run(raw):\n    return [2 * x for x in json.loads(raw)['data']]\n")
    env = Environment("plain")
    env.python.user_managed_dependencies = True
    service = Model.deploy(ws, "doubler-svc", [model], inference_config=InferenceConfig(
        entry_script="score.py", source_directory=str(tmp_path / "srv"), environment=env),
        deployment_config=LocalWebservice.deploy_configuration())
    try:
        service.wait_for_deployment()
        uri, keeper = service.scoring_uri, service._refresh()["pid"]
        assert requests.post(uri, json={"data": [1, 2]}, timeout=30).json() == [2, 4]
        server = next(c for c in psutil.Process(keeper).children() if "runyard.serving" in c.cmdline())
        server.kill()
        wait_until(lambda: _scores(uri), 60, message="the endpoint to come back")
        assert service._refresh()["pid"] == keeper and service.scoring_uri == uri
        assert "was killed by SIGKILL" in service.get_logs()
        # A restart asked for by hand keeps the port too.
        runyard_cli("endpoint", "restart", "doubler-svc", check=True)
        assert service._refresh()["pid"] != keeper and service.scoring_uri == uri
        wait_until(lambda: _scores(uri), 60, message="the restarted endpoint")
    finally:
        keeper = service._refresh()["pid"]
        children = psutil.Process(keeper).children(recursive=True) if pid_alive(keeper) else []
        service.delete()
    assert not pid_alive(keeper) and not any(pid_alive(c.pid) for c in children)


def _scores(uri: str) -> bool:
    try:
        return requests.post(uri, json={"data": [3]}, timeout=5).json() == [6]
    except (requests.RequestException, ValueError):
        return False


# -- small inputs that slipped through -------------------------------------------------------
def test_small_wrong_inputs_are_refused_clearly(ws, src, tmp_path):
    src.write("t.py", "print('hi')\n")
    result = runyard_cli("run", "--env", "runyard-python-3.11-minimal:7", str(src.path / "t.py"),
                         cwd=src.path)
    assert result.returncode == 2 and "has version 1 only" in result.stderr
    assert list(ws._registry.list_runs()) == []  # nothing was created
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the source")
    os.symlink(outside, src.path / "link.txt")
    with pytest.raises(SnapshotException, match="link.txt"):
        Experiment(ws, "links").submit(ScriptRunConfig(str(src.path), script="t.py"))
    os.unlink(src.path / "link.txt")
    os.symlink(tmp_path, src.path / "folder-link")
    with pytest.raises(SnapshotException, match="folder-link"):
        Experiment(ws, "links").submit(ScriptRunConfig(str(src.path), script="t.py"))
    (src.path / ".amlignore").write_text("folder-link\n")  # ignored: fine
    Experiment(ws, "links").submit(ScriptRunConfig(str(src.path), script="t.py")).wait_for_completion()
    with pytest.raises(SnapshotException, match="file system's root"):
        Experiment(ws, "root").submit(ScriptRunConfig("/", script=os.path.relpath(src.path / "t.py", "/")))
    with pytest.raises(UserErrorException, match="non-empty string"):
        Run.get_context().log(123, 5)


def test_a_script_killed_from_outside_is_not_its_own_error(ws, src, tmp_path):
    pid_file = tmp_path / "pid"
    src.write("sleep.py", f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                          "time.sleep(600)\n")
    run = Experiment(ws, "oom").submit(ScriptRunConfig(str(src.path), script="sleep.py"))
    os.kill(int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60)), signal.SIGKILL)
    error = run.wait_for_completion(raise_on_error=False)["error"]["error"]
    assert error["code"] == "SystemError" and "from outside the run" in error["message"]
