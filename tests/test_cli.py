"""The `runyard` command, run as a user would run it."""

import json

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
    assert "ValueError: bad learning rate" in result.stderr


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
