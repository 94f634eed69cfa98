"""The v1 import paths re-export real objects, and importing runyard stays light."""

import importlib
import json
import os
import subprocess
import sys

import pytest

V1_MODULES = ["runyard", "runyard.core", "runyard.core.run", "runyard.core.experiment",
              "runyard.core.workspace", "runyard.core.script_run_config",
              "runyard.core.runconfig", "runyard.core.compute", "runyard.core.compute_target",
              "runyard.core.environment", "runyard.core.conda_dependencies",
              "runyard.core.model", "runyard.core.webservice", "runyard.core.resource_configuration",
              "runyard.train.dnn", "runyard.train.estimator", "runyard.train.hyperdrive",
              "runyard.exceptions"]


@pytest.mark.parametrize("module_name", V1_MODULES)
def test_all_names_resolve(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_import_runyard_loads_no_heavy_dependency():
    code = ("import sys, runyard, runyard.core; "
            "heavy = [m for m in ('mlflow', 'tensorflow', 'ray', 'keras') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_help_loads_no_heavy_dependency():
    code = ("import sys\nfrom runyard.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('mlflow', 'sqlalchemy', 'tensorflow', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_job_side_imports_need_only_the_standard_library():
    """Jobs in built environments import runyard without its dependencies installed."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('sqlalchemy', 'pydantic', 'mlflow', 'fsspec', 'click'):\n"
        "            raise ImportError('not in the job environment: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from runyard.core import Run, Dataset, Datastore, Model\n"
        "print(Run.get_context().input_datasets, Model.get_model_path('m'))\n")
    deployed = json.dumps([{"name": "m", "version": 1, "path": "/models/m/1/model"}])
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True,
                            env={**os.environ, "RUNYARD_DEPLOYED_MODELS": deployed})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{} /models/m/1/model"
