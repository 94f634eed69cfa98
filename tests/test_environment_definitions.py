"""Environment and CondaDependencies objects, registration, and build plans (no builds)."""

import textwrap

import pytest

from runyard.core import Environment
from runyard.core.conda_dependencies import CondaDependencies
from runyard.environments import mapping, plan
from runyard.errors import UserErrorException

SEED_CONDA = textwrap.dedent("""
    channels:
    - conda-forge
    dependencies:
    - python=3.6.2
    - pip:
      - azureml-defaults
      - tensorflow-gpu==2.2.0
""")


def test_seed_conda_spec_maps_to_a_cpu_pypi_plan(tmp_path):
    (tmp_path / "conda_dependencies.yml").write_text(SEED_CONDA)
    env = Environment.from_conda_specification(name="tensorflow-2.2-gpu",
                                               file_path=str(tmp_path / "conda_dependencies.yml"))
    assert env.python.conda_dependencies.get_python_version() == "3.6.2"
    built = plan.plan(env.definition())
    assert built.python_version.startswith("3.6.")
    assert built.requirements == ["tensorflow-cpu==2.2.0"]
    assert any("skipped azureml-defaults" in n for n in built.notes)
    assert any("tensorflow-gpu==2.2.0 needs a GPU" in n for n in built.notes)


@pytest.mark.parametrize("conda, pypi", [
    ("tensorflow=2.21", "tensorflow-cpu==2.21.*"), ("tensorflow-gpu", "tensorflow-gpu"),
    ("scikit-learn", "scikit-learn"), ("numpy>=1.26", "numpy>=1.26"), ("pandas", "pandas"),
    ("matplotlib", "matplotlib"), ("keras", "keras"), ("horovod=0.28.1", "horovod==0.28.1"),
    ("mpi4py", "mpi4py"), ("pillow", "pillow"), ("conda-forge::numpy=1.26.4", "numpy==1.26.4")])
def test_conda_to_pypi_mapping(conda, pypi):
    assert mapping.conda_to_pip(conda) == pypi


def test_unknown_conda_package_names_it_and_the_fix():
    cd = CondaDependencies.create(conda_packages=["cudatoolkit=11.8"], python_version="3.11")
    env = Environment("gpu")
    env.python.conda_dependencies = cd
    with pytest.raises(UserErrorException, match="'cudatoolkit' has no known PyPI equivalent.*pip:"):
        plan.plan(env.definition())


def test_missing_python_version_lists_the_available_ones():
    env = Environment("old")
    env.python.conda_dependencies = CondaDependencies.create(python_version="2.5")
    with pytest.raises(UserErrorException, match=r"Python 2.5 is not installed.*Available: .*3\.11"):
        plan.plan(env.definition())


def test_hash_depends_on_content_not_order_or_name():
    a, b = Environment("a"), Environment("b")
    a.python.conda_dependencies = CondaDependencies.create(pip_packages=["six", "attrs"])
    b.python.conda_dependencies = CondaDependencies.create(pip_packages=["attrs", "six"])
    assert plan.plan(a.definition()).hash == plan.plan(b.definition()).hash
    b.python.conda_dependencies.add_pip_package("idna")
    assert plan.plan(a.definition()).hash != plan.plan(b.definition()).hash
    b.python.conda_dependencies.remove_pip_package("idna")
    b.environment_variables["PIP_INDEX_URL"] = "http://127.0.0.1:1/simple"
    assert plan.plan(a.definition()).hash != plan.plan(b.definition()).hash


def test_register_versions_get_list_clone(ws):
    env = Environment("team-env")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six"])
    assert env.register(ws).version == "1"
    assert env.register(ws).version == "1"  # unchanged: no new version
    env.python.conda_dependencies.add_pip_package("attrs")
    assert env.register(ws).version == "2"
    latest = Environment.get(ws, "team-env")
    assert latest.version == "2" and "attrs" in list(latest.python.conda_dependencies.pip_packages)
    assert "attrs" not in list(Environment.get(ws, "team-env", version=1).python.conda_dependencies.pip_packages)
    listed = Environment.list(ws)
    assert "team-env" in listed and "runyard-tensorflow-2.21-cpu" in listed
    with pytest.raises(UserErrorException, match="No environment 'nope'.*runyard-tensorflow-2.21-cpu"):
        Environment.get(ws, "nope")


def test_curated_names_are_reserved(ws):
    curated = Environment.get(ws, "runyard-tensorflow-2.21-cpu")
    pips = list(curated.python.conda_dependencies.pip_packages)
    assert any(p.startswith("tensorflow-cpu==") for p in pips) and any(p.startswith("tf-keras") for p in pips)
    for name in ("runyard-tensorflow-2.21-cpu", "AzureML-TensorFlow-2.2-GPU"):
        with pytest.raises(UserErrorException, match="reserved.*clone"):
            Environment(name).register(ws)
    assert curated.clone("my-tf").register(ws).version == "1"


def test_save_and_load_directory_round_trip(tmp_path):
    env = Environment("saved")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["six==1.16.0"],
                                                             conda_packages=["numpy"])
    env.environment_variables = {"MY_FLAG": "1"}
    env.save_to_directory(str(tmp_path / "env"))
    assert (tmp_path / "env" / "conda_dependencies.yml").exists()
    loaded = Environment.load_from_directory(str(tmp_path / "env"))
    assert loaded.definition() == env.definition()
    with pytest.raises(UserErrorException, match="overwrite=True"):
        env.save_to_directory(str(tmp_path / "env"))


def test_from_pip_requirements(tmp_path):
    (tmp_path / "requirements.txt").write_text("# deps\nsix==1.16.0\n--index-url https://pypi.org/simple\nattrs  # inline\n")
    env = Environment.from_pip_requirements("reqs", str(tmp_path / "requirements.txt"))
    cd = env.python.conda_dependencies
    assert list(cd.pip_packages) == ["six==1.16.0", "attrs"]
    assert list(cd.pip_options) == ["--index-url https://pypi.org/simple"]


def test_conda_dependencies_save_and_reload(tmp_path):
    cd = CondaDependencies.create(pip_packages=["six"], conda_packages=["numpy"], python_version="3.11")
    cd.add_channel("defaults")
    path = cd.save(str(tmp_path / "env.yml"))
    again = CondaDependencies(conda_dependencies_file_path=path)
    assert again == cd and list(again.conda_packages) == ["numpy"]
    with pytest.raises(UserErrorException, match="dependencies"):
        (tmp_path / "bad.yml").write_text("dependencies: 3\n")
        CondaDependencies(conda_dependencies_file_path=str(tmp_path / "bad.yml"))
