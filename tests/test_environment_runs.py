"""Jobs in built environments: uv-built venvs cached per content hash, reused, built once for
concurrent runs, and failures reported in Preparing."""

import json
import warnings

import pytest

from conftest import runyard_cli
from runyard.core import Environment, Experiment, ScriptRunConfig
from runyard.core.conda_dependencies import CondaDependencies
from runyard.environments import builder
from runyard.errors import UserErrorException

REPORT = """
import sys, six
from runyard.core import Run
print("python", ".".join(map(str, sys.version_info[:2])), "six", six.__version__)
Run.get_context().log("six_major", int(six.__version__.split(".")[0]))
"""


def six_env(name="six-env", python="3.12"):
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"],
                                                             python_version=python)
    return env


def _submit(ws, src, env, script="report.py"):
    return Experiment(ws, "envs").submit(ScriptRunConfig(str(src.path), script=script, environment=env))


def test_job_runs_in_its_environment_and_the_second_run_reuses_it(ws, src):
    src.write("report.py", REPORT)
    first = _submit(ws, src, six_env())
    assert first.wait_for_completion()["status"] == "Completed"
    assert "python 3.12 six 1.16.0" in first._paths.std_log.read_text()
    assert first.get_metrics()["six_major"] == 1  # runyard's logging works in any environment
    assert "'six-env': building" in first._paths.preparing_log.read_text()
    assert "system_logs/preparing.log" in first.get_file_names()

    second = _submit(ws, src, six_env())
    second.wait_for_completion()
    log = second._paths.preparing_log.read_text()
    assert "reusing cached environment" in log and ": building" not in log
    assert len([e for e in builder.cached() if e["complete"]]) == 1
    assert second.get_environment().definition() == six_env().definition()


def test_concurrent_runs_build_a_new_environment_once(ws, src):
    src.write("report.py", REPORT)
    runs = [_submit(ws, src, six_env("shared")) for _ in range(2)]
    for run in runs:
        assert run.wait_for_completion()["status"] == "Completed"
    logs = [run._paths.preparing_log.read_text() for run in runs]
    assert sum("'shared': building" in log for log in logs) == 1
    assert sum("waiting for it" in log or "reusing" in log for log in logs) == 1
    assert len(builder.cached()) == 1


def test_failed_build_fails_in_preparing_and_leaves_nothing(ws, src):
    src.write("report.py", REPORT)
    env = Environment("broken")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=["six==0.0.0.999"], python_version="3.12")
    run = _submit(ws, src, env)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "Building the environment failed" in details["error"]["error"]["message"]
    assert [s for s, _ in run._record["history"]][-2:] == ["Preparing", "Failed"]
    assert builder.cached() == []  # no half-built environment for a later run
    assert not run._paths.std_log.exists() or run._paths.std_log.read_text() == ""


def test_unmappable_conda_package_and_missing_python_fail_in_preparing(ws, src):
    src.write("report.py", REPORT)
    env = Environment("conda-only")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["cudatoolkit"])
    details = _submit(ws, src, env).wait_for_completion(raise_on_error=False)
    assert "'cudatoolkit' has no known PyPI equivalent" in details["error"]["error"]["message"]
    env = six_env("ancient", python="2.5")
    details = _submit(ws, src, env).wait_for_completion(raise_on_error=False)
    assert "Python 2.5 is not installed" in details["error"]["error"]["message"]


def test_user_managed_dependencies_use_the_interpreter_without_a_build(ws, src):
    src.write("which.py", "import os, sys\nprint(sys.executable, os.environ['MY_SETTING'])\n")
    env = Environment("mine")
    env.python.user_managed_dependencies = True
    env.environment_variables = {"MY_SETTING": "from-env"}
    run = _submit(ws, src, env, script="which.py")
    run.wait_for_completion()
    import sys

    assert run._paths.std_log.read_text().strip() == f"{sys.executable} from-env"
    assert builder.cached() == []


def test_docker_enabled_runs_without_a_container_and_an_own_image_is_refused(ws, src):
    src.write("report.py", REPORT)
    env = six_env("dockered")
    env.docker.enabled = True  # v1 code sets it everywhere, with Azure's base images
    env.docker.base_image = "mcr.microsoft.com/azureml/openmpi3.1.2-cuda10.1-cudnn7-ubuntu18.04"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = _submit(ws, src, env)
    assert [str(w.message) for w in caught if "container" in str(w.message)] == [
        "runyard runs jobs without containers: Environment 'dockered' docker.enabled=True is noted and the "
        "job runs without one (its packages come from the environment's pip/conda lists)."]
    assert run.wait_for_completion()["status"] == "Completed"
    env.docker.base_image = "registry.example.com/team/trainer:3"  # an image of one's own: refused
    with pytest.raises(UserErrorException, match="container built from 'registry.example.com/team/trainer:3'.*docker.enabled = False"):
        _submit(ws, src, env)
    assert len(list(ws._registry.list_runs())) == 1
    env.docker.enabled = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _submit(ws, src, env).wait_for_completion()
    assert [str(w.message) for w in caught if "recorded but not used" in str(w.message)]


def test_modified_curated_environment_must_be_cloned(ws, src):
    src.write("report.py", REPORT)
    curated = Environment.get(ws, "runyard-python-3.11-minimal")
    curated.python.conda_dependencies.add_pip_package("six")
    with pytest.raises(UserErrorException, match="was modified. Clone it"):
        _submit(ws, src, curated)
    clone = curated.clone("minimal-plus-six")
    assert _submit(ws, src, clone).wait_for_completion()["status"] == "Completed"


def test_cli_env_requirements_rerun_list_and_prune(ws, src, tmp_path):
    src.write("report.py", REPORT)
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    result = runyard_cli("run", "-r", str(tmp_path / "requirements.txt"), "-e", "cli-env",
                         str(src.path / "report.py"))
    assert result.returncode == 0, result.stderr
    assert "Preparing (system_logs/preparing.log)" in result.stdout and "six 1.16.0" in result.stdout
    first = next(Experiment(ws, "cli-env").get_runs())

    rerun_id = runyard_cli("run", "--detach", "--rerun", first.id, check=True).stdout.strip()
    from runyard.core import Run

    rerun = Run.get(ws, rerun_id)
    assert rerun.wait_for_completion()["status"] == "Completed"
    assert rerun.get_snapshot_id() == first.get_snapshot_id()
    assert rerun.get_environment().definition() == first.get_environment().definition()
    assert rerun.tags["runyard.rerunOf"] == first.id

    six_env("registered").register(ws)
    shown = json.loads(runyard_cli("env", "show", "registered:1", check=True).stdout)
    assert shown["name"] == "registered"
    listed = runyard_cli("env", "list", check=True).stdout
    assert "registered" in listed and "runyard-tensorflow-2.21-cpu" in listed
    assert "1 environments" in listed
    pruned = runyard_cli("env", "prune", "--all", check=True).stdout
    assert "Removed 1 environments" in pruned
    assert builder.cached() == []
    built = runyard_cli("env", "build", "-r", str(tmp_path / "requirements.txt"), check=True).stdout
    assert ": building" in built and "Interpreter: " in built
    assert len(builder.cached()) == 1
    bad = runyard_cli("run", "--env", "no-such-env", str(src.path / "report.py"))
    assert bad.returncode == 2 and "No environment 'no-such-env'" in bad.stderr


def test_an_entry_script_on_python_3_7_imports_runyard_and_logs(ws, src):
    """What a job imports (runyard.core, its Run and logging) stays valid on Python 3.7."""
    from runyard.environments import interpreters

    oldest, version = interpreters.find("3.7")
    src.write("old.py", """
        import sys
        from runyard.core import Dataset, Experiment, Run, Workspace
        run = Run.get_context()
        for i in range(3):
            run.log("loss", 1.0 / (i + 1))
        run.log_list("sizes", [1, 2])
        run.tag("python", "%d.%d" % sys.version_info[:2])
        run.upload_file("outputs/note.txt", __file__)
        run.upload_files(["outputs/a.txt", "outputs/b.txt"], [__file__, __file__])
        with open("pixel.png", "wb") as f:   # the smallest valid PNG
            f.write(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                  "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))
        run.log_image("pixel", path="pixel.png")
        print("run", run.id, flush=True)
    """)
    env = Environment("python-3-7")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = oldest
    run = _submit(ws, src, env, script="old.py")
    run.wait_for_completion(raise_on_error=False)
    assert version.startswith("3.7.")
    assert run.get_status() == "Completed", run._paths.std_log.read_text()
    assert run._paths.std_log.read_text().strip() == f"run {run.id}"
    assert run.get_metrics()["loss"] == [1.0, 0.5, 1.0 / 3]
    assert run.get_metrics()["sizes"] == [1, 2]
    assert run.get_tags()["python"] == "3.7"
    assert {"outputs/note.txt", "outputs/a.txt", "outputs/b.txt", "images/pixel.png"} <= set(run.get_file_names())
