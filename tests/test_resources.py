"""What a run uses, sampled by its supervisor: system metrics under MLflow's names, the summary
in `runs show` and get_details(), the out-of-memory message of a job the kernel killed, and
the GPUs of a machine (none here: NVML absent is the normal case)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest

from conftest import runyard_cli, wait_until
from runyard.core import Experiment, ScriptRunConfig

ALLOCATE = """
import time
block = bytearray(300 * 1024 * 1024)
for i in range(0, len(block), 4096):   # touched: resident, not only reserved
    block[i] = 1
end = time.time() + 2.5
while time.time() < end:               # busy: CPU to sample
    sum(range(10000))
print("done")
"""


def test_a_run_records_its_cpu_and_memory_as_system_metrics(ws, src, monkeypatch):
    monkeypatch.setenv("RUNYARD_SYSTEM_METRICS_INTERVAL", "0.3")
    src.write("allocate.py", ALLOCATE)
    run = Experiment(ws, "resources").submit(ScriptRunConfig(str(src.path), script="allocate.py"))
    assert run.wait_for_completion()["status"] == "Completed"
    assert not [name for name in run.get_metrics() if name.startswith("system/")]  # not v1 metrics
    history = mlflow.MlflowClient(ws.get_mlflow_tracking_uri())
    mlflow_run_id = run.get_details()["properties"]["mlflow.runId"]
    memory = [m.value for m in history.get_metric_history(mlflow_run_id, "system/system_memory_usage_megabytes")]
    cpu = [m.value for m in history.get_metric_history(mlflow_run_id, "system/cpu_utilization_percentage")]
    assert len(memory) >= 3 and max(memory) > 300  # the 300 MB the script holds, and Python
    assert max(cpu) > 10
    properties = run.get_properties()
    assert float(properties["runyard.peakMemoryMB"]) > 300
    assert float(properties["runyard.meanCpuPercent"]) > 0
    assert run.get_details()["devices"] == ["cpu"]
    shown = runyard_cli("runs", "show", run.id, check=True).stdout
    assert f"peak memory {float(properties['runyard.peakMemoryMB']):,.1f} MB" in shown and "on cpu" in shown


def _memory_cgroup(name: str) -> Path:
    """A new memory cgroup (v2, else v1) under this process's own."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        else:
            continue
        group = base / name
        group.mkdir()
        return group
    raise AssertionError("no memory cgroup on this machine (/proc/self/cgroup)")


def test_a_job_the_kernel_kills_for_memory_says_so(ws, src, tmp_path):
    """The submitting process, its run's supervisor and job in a cgroup limited to 768 MiB: the
    job grows past it, the kernel's OOM killer kills it, and the run's error says why."""
    src.write("grow.py", """
        import time
        blocks = []
        while True:                      # 32 MiB more every 0.1 s until the kernel stops it
            block = bytearray(32 * 1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1
            blocks.append(block)
            time.sleep(0.1)
    """)
    submit = tmp_path / "submit.py"
    submit.write_text(textwrap.dedent(f"""
        from runyard.core import Experiment, ScriptRunConfig, Workspace
        run = Experiment(Workspace.from_config(), "oom").submit(ScriptRunConfig({str(src.path)!r}, script="grow.py"))
        run.wait_for_completion(raise_on_error=False)
        print("RUN", run.id)
    """))
    group = _memory_cgroup(f"runyard-test-{os.getpid()}")
    limit_file = group / ("memory.max" if (group / "memory.max").exists() else "memory.limit_in_bytes")
    limit_file.write_text(str(768 * 1024 * 1024))
    try:
        done = subprocess.run([sys.executable, str(submit)], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "RUNYARD_SYSTEM_METRICS_INTERVAL": "0.2"},
                              preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())))
        assert done.returncode == 0, done.stderr[-3000:]
        run_id = done.stdout.split("RUN ")[-1].strip()
    finally:
        subprocess.run(["sleep", "1"])
        try:
            group.rmdir()
        except OSError:
            pass
    from runyard.core import Run

    run = Run.get(ws, run_id)
    error = run.get_details()["error"]["error"]  # (v1 nests it)
    assert run.get_status() == "Failed" and error.get("code") == "OutOfMemory", error
    assert error["message"].startswith("out of memory: peak ") and " of 0.8 GiB (killed by the kernel)" in error["message"]
    assert "SIGKILL" in error["message"]


def test_gpus_without_nvml_and_declared_by_runyard_gpus(monkeypatch):
    from runyard import gpus
    from runyard.errors import UserErrorException

    monkeypatch.delenv("RUNYARD_GPUS", raising=False)
    assert gpus.available() == []  # no NVIDIA driver here: no GPUs, no error
    assert gpus.readings([0]) == {}
    monkeypatch.setenv("RUNYARD_GPUS", "1,0")
    assert [g.index for g in gpus.available()] == [0, 1]
    monkeypatch.setenv("RUNYARD_GPUS", "")
    assert gpus.available() == []
    monkeypatch.setenv("RUNYARD_GPUS", "first")
    with pytest.raises(UserErrorException, match="RUNYARD_GPUS lists GPU indexes"):
        gpus.available()


SHOW_DEVICES = """
import json, os, sys, time
from runyard.core import Run
run = Run.get_context()
run.tag("visible", os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task")
if task:
    print("TASK", task["type"], task["index"], os.environ["CUDA_VISIBLE_DEVICES"] or "none", flush=True)
    if task["type"] == "ps":
        time.sleep(600)      # parameter servers serve until the job stops them
if len(sys.argv) > 1:                # hold on until the test lets go (a file appears)
    deadline = time.time() + 120
    while not os.path.exists(sys.argv[1]) and time.time() < deadline:
        time.sleep(0.1)
"""


def test_gpus_are_handed_out_and_a_run_waits_queued_for_busy_ones(ws, src, monkeypatch):
    """GPUs declared with RUNYARD_GPUS (no GPU exists here; what is faked is only their
    existence: reservation, waiting and CUDA_VISIBLE_DEVICES are runyard's real ones)."""
    from runyard.core import Run
    from runyard.core.runconfig import TensorflowConfiguration

    monkeypatch.setenv("RUNYARD_GPUS", "0")
    src.write("show.py", SHOW_DEVICES)
    experiment = Experiment(ws, "gpus")
    release = src.path.parent / "release-the-gpu"
    first = experiment.submit(ScriptRunConfig(str(src.path), script="show.py", arguments=[str(release)]))
    wait_until(lambda: first.get_status() == "Running", timeout=60)
    second = experiment.submit(ScriptRunConfig(str(src.path), script="show.py"))
    cpu_only = ScriptRunConfig(str(src.path), script="show.py")
    cpu_only.run_config.gpu_count = 0
    third = experiment.submit(cpu_only)
    assert third.wait_for_completion()["status"] == "Completed"
    assert first.get_status() == "Running" and second.get_status() == "Queued"  # 0 GPUs: no wait
    assert third.get_tags()["visible"] == ""
    release.touch()  # the first run ends now; the second then gets the GPU
    for run in (first, second):
        assert run.wait_for_completion()["status"] == "Completed"
        assert run.get_tags()["visible"] == "0"
        assert run.get_details()["devices"] == ["GPU 0 (declared in RUNYARD_GPUS)"]
    assert Run.get(ws, second.id)._refresh()["start_time"] >= Run.get(ws, first.id)._refresh()["end_time"]
    assert f"waiting for 1 GPU(s) of this machine, held by {first.id}" in second._paths.preparing_log.read_text()

    monkeypatch.setenv("RUNYARD_GPUS", "0,1")
    config = ScriptRunConfig(str(src.path), script="show.py",
                             distributed_job_config=TensorflowConfiguration(worker_count=3, parameter_server_count=1))
    job = experiment.submit(config)
    assert job.wait_for_completion()["status"] == "Completed"
    tasks = sorted(line for line in job._paths.std_log.read_text().splitlines() if "TASK " in line)
    assert [line.split("TASK ")[1] for line in tasks] == ["ps 0 none", "worker 0 0", "worker 1 1", "worker 2 0"]


def test_cuda_visible_devices_per_process():
    from runyard.gpus import assign

    assert assign([""], [0, 1, 2]) == ["0,1,2"]            # one process (or mpirun): every GPU
    assert assign(["chief 0", "worker 0", "ps 0"], [3, 5]) == ["3", "5", ""]
    assert assign(["worker 0", "worker 1"], []) == ["", ""]


def test_tensorflow_builds_follow_the_computes_gpus(ws, monkeypatch):
    """Where the compute has a GPU, GPU requests install TensorFlow with CUDA from PyPI; here
    (no GPU) they install the CPU build with a warning. The GPU case is checked by faking the
    one fact this machine cannot have (gpus.present)."""
    from runyard import gpus
    from runyard.core import Environment
    from runyard.core.conda_dependencies import CondaDependencies
    from runyard.environments import plan

    def planned(pip=(), conda=(), name=None):
        env = Environment.get(ws, name) if name else Environment("tf")
        if not name:
            env.python.conda_dependencies = CondaDependencies.create(
                pip_packages=list(pip), conda_packages=list(conda), python_version="3.11")
        built = plan.plan(env.definition())
        return built.requirements + built.no_deps, [n for n in built.notes if n.startswith("warning")]

    requirements, warnings = planned(conda=["tensorflow=2.16"], pip=["tensorflow-gpu==2.16.1"])
    assert "tensorflow-cpu==2.16.*" in requirements and "tensorflow-cpu==2.16.1" in requirements
    assert len(warnings) == 1 and "tensorflow-gpu==2.16.1 needs a GPU" in warnings[0]
    requirements, warnings = planned(name="runyard-tensorflow-2.21-gpu")
    assert "tensorflow-cpu==2.21.0" in requirements and "needs a GPU" in warnings[0]

    monkeypatch.setattr(gpus, "present", lambda: True)
    requirements, warnings = planned(conda=["tensorflow=2.16"], pip=["tensorflow"])
    assert requirements[:2] == ["tensorflow[and-cuda]==2.16.*", "tensorflow[and-cuda]"] and warnings == []
    requirements, warnings = planned(pip=["tensorflow-gpu==2.2.0"])
    assert requirements == ["tensorflow-cpu==2.2.0"] and "before 2.14 needs CUDA installed" in warnings[0]
    requirements, _ = planned(name="runyard-tensorflow-2.21-gpu")
    assert "tensorflow[and-cuda]==2.21.0" in requirements and "tf-keras==2.21.0" in requirements
    requirements, _ = planned(pip=["tensorflow-cpu==2.21.0"])  # the CPU build asked for by name
    assert requirements == ["tensorflow-cpu==2.21.0"]


def test_azure_gpu_sizes_give_local_cluster_nodes_their_gpus(monkeypatch):
    from runyard import gpus

    assert [gpus.per_vm_size(s) for s in ("STANDARD_NC6", "Standard_NC12", "STANDARD_NC24", "STANDARD_NC6s_v3",
                                          "Standard_NC4as_T4_v3", "STANDARD_ND40rs_v2", "STANDARD_D2_V2", "")] == \
        [1, 2, 4, 1, 1, 8, 0, 0]
    monkeypatch.setenv("RUNYARD_GPUS", "0,1,2")
    assert gpus.split_among_nodes(2, 1) == [[0], [1]]
    assert gpus.split_among_nodes(2, 2) == [[0, 1], [2]]  # capped by what the machine has
    monkeypatch.setenv("RUNYARD_GPUS", "")
    assert gpus.split_among_nodes(2, 4) == [[], []]


def test_runyard_run_gpus_option(ws, src):
    from runyard.core import Run

    script = src.write("show.py", SHOW_DEVICES)
    result = runyard_cli("run", "--gpus", "0", "--detach", str(script), env_extra={"RUNYARD_GPUS": "0"}, check=True)
    run = Run.get(ws, result.stdout.strip())
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_tags()["visible"] == "" and run.get_details()["devices"] == ["cpu"]
    refused = runyard_cli("run", "--gpus", "-1", str(script))
    assert refused.returncode == 2 and "--gpus" in refused.stderr
