"""The small v1 names Azure's sample notebooks call, called as a notebook calls them."""

from __future__ import annotations

import warnings

import runyard
from runyard.core import Experiment, ScriptRunConfig


def test_version_telemetry_and_runconfig_names():
    from runyard.core import VERSION
    from runyard.core.runconfig import CondaDependencies, DockerConfiguration, RunConfiguration
    from runyard.telemetry import set_diagnostics_collection

    print("SDK version:", VERSION)  # (the first cell of 6 of 7 notebooks)
    assert VERSION == runyard.__version__
    assert set_diagnostics_collection(send_diagnostics=True) is None  # nothing is sent anywhere
    assert list(CondaDependencies.create(pip_packages=["six"]).pip_packages) == ["six"]
    assert DockerConfiguration(use_docker=True).use_docker is True
    assert RunConfiguration().docker is None


def test_a_run_asking_for_docker_runs_without_a_container_saying_so_once(ws, src):
    from runyard.core.runconfig import DockerConfiguration

    src.write("train.py", "print('trained')\n")
    config = ScriptRunConfig(str(src.path), script="train.py", docker_runtime_config=DockerConfiguration(use_docker=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Experiment(ws, "docker").submit(config)
    said = [str(w.message) for w in caught if "container" in str(w.message)]
    assert len(said) == 1 and "DockerConfiguration(use_docker=True) is noted" in said[0]
    assert run.wait_for_completion()["status"] == "Completed"
