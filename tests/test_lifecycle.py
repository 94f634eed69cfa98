"""The detached supervisor: outlives its client, enforces cancel and deadlines on every
process, and a dead supervisor is noticed by any reader."""

import os
import signal
import subprocess
import sys
import textwrap

from conftest import pid_alive, wait_until
from runyard.core import Experiment, Run, ScriptRunConfig

WAIT_FOR_FLAG = """
import os, subprocess, sys, time
from runyard.core import Run
run = Run.get_context()
# a grandchild process, which must be stopped with the run
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open("{pids}", "w").write(f"{{os.getpid()}} {{child.pid}}")
run.log("started", 1)
open("logs/progress.txt", "w").write("epoch 1")
print("waiting", flush=True)
while not os.path.exists("{flag}"):
    time.sleep(0.05)
print("flag seen")
"""


def _waiting_run(ws, src, tmp_path, **kwargs):
    flag, pids = tmp_path / "flag", tmp_path / "pids"
    src.write("wait.py", WAIT_FOR_FLAG.format(flag=flag, pids=pids))
    run = Experiment(ws, "life").submit(ScriptRunConfig(str(src.path), script="wait.py", **kwargs))
    wait_until(lambda: pids.exists() and pids.read_text().strip(), message="the script to start")
    return run, flag, [int(p) for p in pids.read_text().split()]


def test_run_completes_after_the_submitting_process_is_killed(tmp_path, src):
    src.write("slow.py", "import time\ntime.sleep(2)\nprint('finished')\n")
    client = textwrap.dedent(f"""
        from runyard.core import Workspace, Experiment, ScriptRunConfig
        run = Experiment(Workspace.from_config(), "orphan").submit(
            ScriptRunConfig({str(src.path)!r}, script="slow.py"))
        print(run.id, flush=True)
        import time; time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", client], stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    proc.kill()
    proc.wait()
    from runyard.core import Workspace

    run = Run.get(Workspace.from_config(), run_id)
    assert run.wait_for_completion()["status"] == "Completed"
    assert "finished" in (run._paths.std_log).read_text()


def test_cancel_stops_every_process(ws, src, tmp_path):
    run, flag, pids = _waiting_run(ws, src, tmp_path)
    run.cancel()
    wait_until(lambda: run.get_status() == "Canceled", timeout=30)
    assert not any(pid_alive(p) for p in pids)
    details = run.get_details()
    assert "error" not in details
    assert run.get_metrics()["started"] == 1
    assert run.wait_for_completion()["status"] == "Canceled"


def test_max_run_duration_is_enforced(ws, src, tmp_path):
    run, flag, pids = _waiting_run(ws, src, tmp_path, max_run_duration_seconds=2)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled"
    assert "max_run_duration_seconds=2" in details["error"]["error"]["message"]
    assert not any(pid_alive(p) for p in pids)


def _watchdog_of(supervisor: int) -> int:
    import psutil

    def started():  # (by the supervisor's first heartbeat)
        return next((p.pid for p in psutil.Process(supervisor).children()
                     if "runyard.supervisor.watchdog" in " ".join(p.cmdline())), None)

    return wait_until(started, 10, message="the watchdog to start")


def test_a_killed_supervisor_is_finished_by_its_watchdog(ws, src, tmp_path):
    run, flag, pids = _waiting_run(ws, src, tmp_path)
    wait_until(lambda: run.get_metrics().get("started") == 1, timeout=20)
    supervisor = run._refresh()["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    # Nothing of the job outlives its supervisor, whether or not anyone reads the run.
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=5, message="job processes to die")
    wait_until(lambda: run.get_status() == "Failed", timeout=30, message="the watchdog to fail the run")
    message = run.get_details()["error"]["error"]["message"]
    assert f"supervisor (pid {supervisor})" in message and "killed" in message
    # Its bookkeeping was finished: the logs the message points to are there.
    files = run.get_file_names()
    assert "user_logs/std_log.txt" in files and "system_logs/supervisor.log" in files
    assert run.get_metrics()["started"] == 1


def test_a_supervisor_killed_with_its_watchdog_is_failed_by_a_reader(ws, src, tmp_path):
    run, flag, pids = _waiting_run(ws, src, tmp_path)
    supervisor = run._refresh()["supervisor_pid"]
    os.kill(_watchdog_of(supervisor), signal.SIGKILL)  # as the OOM killer or a reboot would
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: run.get_status() == "Failed", timeout=30, message="a reader to fail the run")
    statuses = [status for status, _ in run._record["history"]]
    assert statuses[-2:] == ["NotResponding", "Failed"]
    message = run.get_details()["error"]["error"]["message"]
    assert "supervisor stopped responding" in message and str(supervisor) in message
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=10, message="job processes to die")
    assert "user_logs/std_log.txt" in run.get_file_names()


def test_logs_outputs_and_metrics_are_live_while_running(ws, src, tmp_path):
    run, flag, pids = _waiting_run(ws, src, tmp_path)
    assert run.get_status() == "Running"
    # ./logs is uploaded, output is streamed and metrics are ingested while the job runs
    wait_until(lambda: "logs/progress.txt" in run.get_file_names(), timeout=20)
    wait_until(lambda: "waiting" in run._paths.std_log.read_text(), timeout=20)
    wait_until(lambda: run.get_metrics().get("started") == 1, timeout=20)
    assert run.get_status() == "Running"
    flag.write_text("go")
    assert run.wait_for_completion()["status"] == "Completed"
    assert not any(pid_alive(p) for p in pids)  # the grandchild did not survive the run
