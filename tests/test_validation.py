"""Bad input gets one clear error each, and nothing is created."""

import pytest

from runyard.core import Experiment, Run, ScriptRunConfig
from runyard.errors import ComputeTargetException, RunNotFoundError, UserErrorException


def _nothing_created(ws):
    assert list(ws._registry.list_runs()) == []
    assert not any(ws.runs_dir.iterdir())


def test_missing_script(ws, src):
    with pytest.raises(UserErrorException, match="'trian.py' was not found in source_directory"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="trian.py"))
    _nothing_created(ws)


def test_source_directory_that_does_not_exist(ws, tmp_path):
    with pytest.raises(UserErrorException, match="does not exist or is not a folder"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(tmp_path / "nope"), script="train.py"))
    _nothing_created(ws)


@pytest.mark.parametrize("bad", [[{"lr": 1}], [None], "--epochs 3"])
def test_arguments_that_are_not_strings_or_numbers(ws, src, bad):
    src.write("train.py", "")
    with pytest.raises(UserErrorException, match="Received: arguments"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="train.py", arguments=bad))
    _nothing_created(ws)


def test_unknown_compute_target(ws, src):
    src.write("train.py", "")
    with pytest.raises(ComputeTargetException, match="'gpu-cluster' does not exist.*Available: local"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="train.py",
                                                   compute_target="gpu-cluster"))
    _nothing_created(ws)


def test_unknown_run_id(ws):
    with pytest.raises(RunNotFoundError, match="No run with id 'nope'.*runyard runs list"):
        Run(Experiment(ws, "v"), "nope")


def test_bad_experiment_name_and_duration(ws, src):
    src.write("train.py", "")
    with pytest.raises(UserErrorException, match="experiment name"):
        Experiment(ws, "has space")
    with pytest.raises(UserErrorException, match="max_run_duration_seconds"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="train.py",
                                                   max_run_duration_seconds=-1))
    with pytest.raises(UserErrorException, match="either script"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="train.py", command="ls"))
    _nothing_created(ws)


def test_snapshot_over_the_limit_creates_nothing(ws, src, monkeypatch):
    from runyard.errors import SnapshotException
    from runyard.runs import snapshot

    monkeypatch.setattr(snapshot, "MAX_FILES", 3)
    for i in range(5):
        src.write(f"f{i}.py", "")
    with pytest.raises(SnapshotException, match="Biggest entries"):
        Experiment(ws, "v").submit(ScriptRunConfig(str(src.path), script="f0.py"))
    _nothing_created(ws)
