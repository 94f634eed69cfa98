"""The deprecated 2019 estimators map onto ScriptRunConfig, as in v1."""

import pytest

from runyard.core import Experiment
from runyard.core.runconfig import MpiConfiguration, TensorflowConfiguration
from runyard.errors import UserErrorException
from runyard.train.dnn import Mpi, TensorFlow
from runyard.train.estimator import Estimator


@pytest.mark.tensorflow
def test_tensorflow_estimator_from_the_2019_page_runs_with_its_packages(ws, src):
    src.write("train.py", """
        import sys, sklearn, six
        from runyard.core import Run
        print("args", sys.argv[1:], "sklearn", bool(sklearn.__version__), flush=True)
        Run.get_context().log("batch", int(sys.argv[sys.argv.index("--batch-size") + 1]))
    """)
    with pytest.warns(DeprecationWarning, match="'TensorFlow' estimator is deprecated"):
        with pytest.warns(UserWarning, match="use_gpu=True"):
            tf_est = TensorFlow(source_directory=str(src.path),
                                script_params={"--batch-size": 50, "--learning-rate": 0.01},
                                compute_target="local", entry_script="train.py",
                                conda_packages=["scikit-learn"], pip_packages=["six"], use_gpu=True)
    run = Experiment(ws, "estimator").submit(tf_est)
    assert run.wait_for_completion()["status"] == "Completed"
    assert "args ['--batch-size', '50', '--learning-rate', '0.01'] sklearn True" in \
        run._paths.std_log.read_text()
    assert run.get_metrics()["batch"] == 50
    pips = list(run.get_environment().python.conda_dependencies.pip_packages)
    assert "six" in pips and any(p.startswith("tensorflow-cpu==2.21") for p in pips)


def test_distributed_backends_map_to_the_distributed_configs(src):
    with pytest.warns(DeprecationWarning):
        mpi = TensorFlow(str(src.path), entry_script="t.py", node_count=1, process_count_per_node=2,
                         distributed_backend="mpi")
        ps = TensorFlow(str(src.path), entry_script="t.py", worker_count=2, parameter_server_count=1,
                        distributed_backend="ps")
        via_object = Estimator(str(src.path), entry_script="t.py",
                               distributed_training=Mpi(process_count_per_node=3))
    assert isinstance(mpi.distributed, MpiConfiguration) and mpi.distributed.process_count_per_node == 2
    assert isinstance(ps.distributed, TensorflowConfiguration)
    assert (ps.distributed.worker_count, ps.distributed.parameter_server_count) == (2, 1)
    assert via_object.distributed.process_count_per_node == 3


def test_missing_backend_with_counts_above_one_is_the_v1_error(src):
    with pytest.warns(DeprecationWarning), \
            pytest.raises(UserErrorException, match="requires a backend.*distributed_backend='mpi'"):
        TensorFlow(str(src.path), entry_script="t.py", node_count=2, process_count_per_node=1)
    with pytest.warns(DeprecationWarning), pytest.raises(UserErrorException, match="cluster compute target"):
        TensorFlow(str(src.path), entry_script="t.py", node_count=2, worker_count=2,
                   parameter_server_count=1, distributed_backend="ps")


def test_estimator_dataset_inputs_and_script_params_become_run_inputs(ws, src, tmp_path):
    from runyard.core import Dataset
    from runyard.runs.config import validate

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("x")
    dataset = Dataset.File.from_files(str(tmp_path / "d"))
    src.write("train.py", "print('hi')\n")
    with pytest.warns(DeprecationWarning):
        est = Estimator(str(src.path), entry_script="train.py",
                        script_params={"--data-folder": dataset.as_mount()},
                        inputs=[dataset.as_named_input("extra").as_download()])
    fields = validate(est.to_script_run_config())
    assert fields["arguments"] == ["--data-folder", "DatasetConsumptionConfig:input_1"]
    assert [(i["name"], i["mode"]) for i in fields["inputs"]] == [("extra", "download"), ("input_1", "mount")]
    assert fields["inputs"][0]["manifest"][0]["path"] == "x.txt"
