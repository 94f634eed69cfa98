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

from conftest import runyard_cli
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
