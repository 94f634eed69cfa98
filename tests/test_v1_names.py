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


def test_the_workspace_cell_of_the_notebooks_and_its_dicts(ws, tmp_path, capsys):
    from runyard.core import Model, Workspace

    print("Workspace name: " + ws.name, "Azure region: " + ws.location, "Subscription id: " + ws.subscription_id,
          "Resource group: " + ws.resource_group, sep="\n")
    assert f"Azure region: {ws.folder}" in capsys.readouterr().out
    assert (ws.subscription_id, ws.resource_group) == ("local", "local")
    assert Workspace("0000-sub", "my-rg", ws.name).subscription_id == "0000-sub"  # v1's positional form
    details = ws.get_details()
    assert details["name"] == ws.name and details["location"] == ws.location
    for name, target in ws.compute_targets.items():  # the notebooks' loop over the compute
        print(name, target.type, target.provisioning_state)
    assert "local local Succeeded" in capsys.readouterr().out
    (tmp_path / "w.json").write_text("{}")
    Model.register(ws, str(tmp_path / "w.json"), "w")
    Model.register(ws, str(tmp_path / "w.json"), "w")
    assert {name: m.version for name, m in ws.models.items()} == {"w": 2}
    assert ws.webservices == {} and "workspaceblobstore" in ws.datastores and ws.datasets == {}
    assert "runyard-python-3.11-minimal" in ws.environments
