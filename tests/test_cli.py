"""The `runyard` command, run as a user would run it."""

import json
import os
import pty
import signal
import subprocess
import sys
import time

from conftest import runyard_cli, wait_until


def test_run_streams_output_and_summarises(src):
    src.write("train.py", """
        import sys
        from runyard.core import Run
        print("args:", sys.argv[1:])
        Run.get_context().log("acc", 0.5)
    """)
    result = runyard_cli("run", str(src.path / "train.py"), "--epochs", "3", "--detach-me")
    assert result.returncode == 0, result.stderr
    assert "args: ['--epochs', '3', '--detach-me']" in result.stdout
    assert "Status: Completed" in result.stdout and "acc: 0.5" in result.stdout


def test_failed_run_exits_non_zero_with_the_error(src):
    src.write("bad.py", "raise ValueError('bad learning rate')\n")
    result = runyard_cli("run", "-e", "cli", str(src.path / "bad.py"))
    assert result.returncode == 1
    assert "Error: The script exited with code 1: ValueError: bad learning rate" in result.stdout
    assert (result.stdout + result.stderr).count("exited with code 1") == 1  # said once, in the summary


def test_detach_then_logs_follow_list_show_download(src, tmp_path):
    src.write("job.py", """
        import os
        print("line one")
        os.makedirs("outputs", exist_ok=True)
        open("outputs/result.txt", "w").write("42")
        from runyard.core import Run
        Run.get_context().log("score", 7)
        print("line two")
    """)
    detached = runyard_cli("run", "--detach", "-e", "cli", str(src.path / "job.py"), check=True)
    run_id = detached.stdout.strip()
    assert run_id.startswith("cli_")
    followed = runyard_cli("runs", "logs", "-f", run_id, check=True)
    assert "line one\nline two" in followed.stdout
    listed = json.loads(runyard_cli("runs", "list", "--json", check=True).stdout)
    assert listed[0]["runId"] == run_id and listed[0]["status"] == "Completed"
    assert run_id in runyard_cli("runs", "list", check=True).stdout
    shown = json.loads(runyard_cli("runs", "show", run_id, "--json", check=True).stdout)
    assert shown["metrics"]["score"] == 7 and "outputs/result.txt" in shown["files"]
    out_dir = tmp_path / "dl"
    runyard_cli("runs", "download", run_id, "--prefix", "outputs", "-o", str(out_dir), check=True)
    assert (out_dir / "outputs" / "result.txt").read_text() == "42"


def test_cancel_from_the_cli(src, tmp_path):
    src.write("forever.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    run_id = runyard_cli("run", "-d", "-e", "cli", str(src.path / "forever.py"), check=True).stdout.strip()
    from runyard.core import Run, Workspace

    run = Run.get(Workspace.from_config(), run_id)
    wait_until(lambda: run.get_status() == "Running", timeout=30)
    result = runyard_cli("runs", "cancel", run_id, "--wait", check=True)
    assert result.stdout.strip() == f"{run_id}: Canceled"


def test_user_errors_are_one_line_without_traceback(src):
    result = runyard_cli("run", str(src.path / "missing.py"))
    assert result.returncode == 2
    assert "Error: script 'missing.py' was not found" in result.stderr
    assert "Traceback" not in result.stderr
    result = runyard_cli("runs", "show", "no-such-run")
    assert result.returncode == 2 and "No run with id 'no-such-run'" in result.stderr
    result = runyard_cli("run", "--compute", "gpu-cluster", str(src.path / "x.py"))
    assert result.returncode == 2


def test_help_lists_the_command_groups():
    result = runyard_cli("--help", check=True)
    for name in ("run", "runs", "ui"):
        assert f"  {name} " in result.stdout


def _runs(ws) -> list:
    return list(ws.backend.runs.list())


def test_run_refuses_mixed_up_arguments_before_creating_anything(ws, src, tmp_path, monkeypatch):
    src.write("train.py", "import sys\nprint('args:', sys.argv[1:])\n")
    script = str(src.path / "train.py")
    result = runyard_cli("run", "--epochs", "3", script)
    assert result.returncode == 2 and "--epochs is not an option of runyard run" in result.stderr
    assert "runyard run [OPTIONS] train.py --epochs" in result.stderr
    result = runyard_cli("run", script, "--epochs", "1", "--detach")
    assert result.returncode == 2 and "--detach is an option of runyard run, given after the script" in result.stderr
    result = runyard_cli("run", "--env", "runyard-tensorflow-2.21-cpu:7", script)
    assert result.returncode == 2 and "has version 1 only" in result.stderr
    (tmp_path / "here").mkdir()
    result = runyard_cli("run", script, "--data", "here", cwd=tmp_path)
    assert result.returncode == 2 and "'here' exists in this folder but not in the run's source folder" in result.stderr
    result = runyard_cli("run", str(src.path / "train.ipynb"))
    assert result.returncode == 2 and "jupyter nbconvert --to script" in result.stderr
    assert _runs(ws) == []  # nothing was created
    passed = runyard_cli("run", script, "--", "--epochs", "1", "--detach", check=True)  # after --: the script's
    assert "args: ['--epochs', '1', '--detach']" in passed.stdout


def test_a_shell_script_runs_with_bash(ws, src):
    src.write("train.sh", 'echo "from bash: $1 $2"\n')
    result = runyard_cli("run", str(src.path / "train.sh"), "a", "b", check=True)
    assert "from bash: a b" in result.stdout and "Status: Completed" in result.stdout


def test_tables_keep_whole_rows_when_piped_and_runs_filter(ws, src):
    src.write("ok.py", "from runyard.core import Run\nRun.get_context().tag('team', 'vision')\n")
    src.write("bad.py", "raise SystemExit(3)\n")
    long_name = "an-experiment-with-a-rather-long-name-that-would-wrap-at-eighty-columns"
    ok = runyard_cli("run", "-d", "-e", long_name, str(src.path / "ok.py"), check=True).stdout.strip()
    bad = runyard_cli("run", "-d", "-e", "short", str(src.path / "bad.py"), check=True).stdout.strip()
    for run_id in (ok, bad):
        runyard_cli("runs", "logs", "-f", run_id)
    listed = runyard_cli("runs", "list", check=True).stdout.splitlines()  # (stdout is a pipe here)
    assert len(listed) == 3 and listed[0].split()[:4] == ["RUN", "ID", "NAME", "EXPERIMENT"]
    row = next(line for line in listed if line.startswith(ok))
    assert long_name in row and "Completed" in row
    assert [line.split()[0] for line in runyard_cli("runs", "list", "--status", "failed", check=True).stdout.splitlines()[1:]] == [bad]
    assert [line.split()[0] for line in runyard_cli("runs", "list", "--tag", "team=vision", check=True).stdout.splitlines()[1:]] == [ok]
    assert "No runs match" in runyard_cli("runs", "list", "--tag", "team=audio", check=True).stdout
    result = runyard_cli("runs", "list", "-e", "nope")
    assert result.returncode == 2 and "No experiment 'nope'" in result.stderr and long_name in result.stderr
    result = runyard_cli("runs", "list", "--status", "done")
    assert result.returncode == 2 and "--status is one of" in result.stderr

    shown = runyard_cli("runs", "show", bad, check=True).stdout
    for expected in ("experiment:  short", "compute:     local", "environment: the submitting interpreter",
                     "duration:", "exited with code 3"):
        assert expected in shown, shown
    facts = json.loads(runyard_cli("runs", "show", ok, "--json", check=True).stdout)
    assert facts["tags"] == {"team": "vision"} and facts["experiment"] == long_name
    assert facts["status"] == "Completed" and facts["computeTarget"] == "local" and facts["durationSeconds"] > 0


def _in_a_terminal(args: list[str], wait_for: bytes) -> tuple[subprocess.Popen, int]:
    """Start `runyard ARGS` on a pseudo-terminal; return once its output shows `wait_for`."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "runyard.cli", *args], stdin=follower, stdout=follower,
                            stderr=follower, close_fds=True, start_new_session=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while wait_for not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(leader, 4096)
        except OSError:
            break
    assert wait_for in seen, seen.decode(errors="replace")
    return proc, leader


def _rest(leader: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return out.decode(errors="replace")


def test_ctrl_c_while_following_says_the_commands_to_use(ws, src):
    src.write("slow.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    run_id = runyard_cli("run", "-d", "-e", "cli", str(src.path / "slow.py"), check=True).stdout.strip()
    for args in (["runs", "logs", "-f", run_id], ["run", "--rerun", run_id]):
        proc, leader = _in_a_terminal(args, b"up")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert proc.wait(timeout=30) == 130
        said = _rest(leader)
        assert f"runyard runs cancel {run_id if args[0] == 'runs' else ''}" in said and "run.cancel()" not in said
    runyard_cli("runs", "cancel", run_id, check=True)
    for record in _runs(ws):
        if record["status"].value not in ("Completed", "Failed", "Canceled"):
            runyard_cli("runs", "cancel", record["run_id"], "--wait", check=True)
