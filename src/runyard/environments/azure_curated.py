"""Azure ML's curated environment names (`AzureML-TensorFlow-2.2-GPU`,
`AzureML-tensorflow-2.7-ubuntu20.04-py38-cuda11-gpu`, `azureml-tensorflow-2.11-cuda11`, ...),
resolved to the nearest environment that installs here: Azure's Docker images cannot be pulled,
so each name becomes its TensorFlow release from PyPI on a Python that release has wheels for,
with the pins its era needs. Scripts written for those images need their era's packages
(TensorFlow 1.x sessions, numpy before 1.24), which is why the newest TensorFlow is not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runyard.environments import curated, interpreters, mapping, tensorflow_releases
from runyard.errors import NotFoundError

AZURE_PREFIXES = ("azureml", "microsoft")

_TENSORFLOW = re.compile(r"^azureml-tensorflow-(?P<version>\d+\.\d+)(?P<rest>-.*)?$", re.IGNORECASE)
_MINIMAL = re.compile(r"^azureml-minimal(-.*)?$", re.IGNORECASE)
_PYTHON_IN_NAME = re.compile(r"-py(\d)(\d+)(?=-|$)", re.IGNORECASE)
_GPU_IN_NAME = re.compile(r"-(gpu|cuda\d*)(?=-|$)", re.IGNORECASE)

EXAMPLES = ("AzureML-TensorFlow-2.2-GPU", "AzureML-TensorFlow-1.13-CPU",
            "AzureML-tensorflow-2.7-ubuntu20.04-py38-cuda11-gpu", "azureml-tensorflow-2.11-cuda11",
            "AzureML-Minimal")


def is_azure_name(name: str) -> bool:
    return name.lower().startswith(AZURE_PREFIXES)


@dataclass(frozen=True)
class Substitute:
    python: str
    pip: list[str]
    note: str  # the one warning that names the substitution


def resolve(name: str) -> Substitute:
    """What an Azure curated name is built as here. Raises NotFoundError for names with no
    sensible match, listing the names that work."""
    tensorflow = _TENSORFLOW.match(name)
    if tensorflow:
        return _tensorflow(name, tensorflow.group("version"), tensorflow.group("rest") or "")
    if _MINIMAL.match(name):
        minimal = "runyard-python-3.11-minimal"
        return Substitute(python=curated.spec(minimal)["python"], pip=[],
                          note=f"Azure's curated environment {name!r} is built here as {minimal} "
                               "(Python alone, from this machine's interpreters).")
    raise NotFoundError(
        f"No environment here matches Azure's curated environment {name!r}. Azure's TensorFlow "
        f"and minimal ones resolve to the nearest that installs (for example {', '.join(EXAMPLES)}); "
        f"runyard's own: {', '.join(curated.names())}. For anything else define an Environment "
        "with the packages the script needs (Environment.from_conda_specification).")


def _tensorflow(name: str, version: str, rest: str) -> Substitute:
    python_in_name = _PYTHON_IN_NAME.search(rest)
    prefer = [f"{python_in_name.group(1)}.{python_in_name.group(2)}"] if python_in_name else []
    prefer += _pythons_here()
    choice = tensorflow_releases.choose(version, prefer_pythons=prefer)
    assert choice is not None  # the name's pattern guarantees a readable version
    package, pins = choice.requirements[0], choice.requirements[1:]
    gpu = bool(_GPU_IN_NAME.search(rest))
    if gpu:  # the compute decides: GPU TensorFlow where it has a GPU (environments/plan.py)
        package = f"tensorflow-gpu=={choice.version}"
    note = f"Azure's curated environment {name!r} is built here from PyPI: {package} on Python {choice.python}"
    note += f", with {', '.join(pins)}." if pins else "."
    if choice.minor != tensorflow_releases.parse_minor(version):
        note += f" TensorFlow {choice.version} is the nearest release to {version} that installs here."
    if gpu and choice.minor >= mapping.AND_CUDA_FROM:
        note += (" On a compute with an NVIDIA GPU that is TensorFlow with its CUDA libraries "
                 "(tensorflow[and-cuda]); elsewhere the CPU build.")
    elif gpu:
        note += (" It runs on the CPU: the GPU builds of TensorFlow before 2.14 need CUDA "
                 "installed on the machine.")
    return Substitute(python=choice.python, pip=[package, *pins], note=note)


def _pythons_here() -> list[str]:
    """'3.X' of the interpreters on this machine, newest first (read from their paths)."""
    found = {".".join(version.split(".")[:2]) for _, version in interpreters.candidates() if version}
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)
