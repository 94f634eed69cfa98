import json

import pytest

from runyard.core import Workspace
from runyard.errors import UserErrorException


def test_default_workspace_is_created_with_zero_setup(tmp_path):
    ws = Workspace.from_config()
    assert ws.name == "default"
    assert ws.folder == (tmp_path / "runyard-home" / "workspaces" / "default").resolve()
    assert (ws.folder / "workspace.json").exists()
    assert ws.get_mlflow_tracking_uri().startswith("sqlite:///")


def test_from_config_searches_upward(tmp_path):
    ws = Workspace.create("team", path=tmp_path / "team-ws", show_output=False)
    config = ws.write_config(tmp_path / "project")
    assert config == tmp_path / "project" / ".runyard" / "config.json"
    nested = tmp_path / "project" / "a" / "b"
    nested.mkdir(parents=True)
    found = Workspace.from_config(path=nested)
    assert found == ws and found.name == "team"


def test_azure_config_maps_to_a_local_workspace(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"subscription_id": "s", "resource_group": "rg", "workspace_name": "mlws"}))
    with pytest.warns(UserWarning, match="Azure ML config"):
        ws = Workspace.from_config()
    assert ws.name == "mlws"


def test_create_refuses_an_existing_workspace_unless_exist_ok(tmp_path):
    Workspace.create("w1", path=tmp_path / "w1", show_output=False)
    with pytest.raises(UserErrorException, match="exist_ok=True"):
        Workspace.create("w1", path=tmp_path / "w1", show_output=False)
    assert Workspace.create("w1", path=tmp_path / "w1", exist_ok=True, show_output=False).name == "w1"


def test_bad_config_and_names_are_clear_errors(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UserErrorException, match="Cannot read the workspace config"):
        Workspace.from_config()
    with pytest.raises(UserErrorException, match="Received: name='bad name!'"):
        Workspace.create("bad name!", path=tmp_path / "x")
