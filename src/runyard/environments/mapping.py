"""Conda package specs -> PyPI requirements, for the packages where that is safe.

Environments are built with uv from PyPI; a conda-only package cannot be installed, so a
conda spec is mapped by an explicit table and anything else is refused with what to do.
"""

from __future__ import annotations

import re

# conda name -> PyPI name. Only packages whose conda and PyPI builds are the same software.
CONDA_TO_PYPI = {
    "tensorflow": "tensorflow-cpu",
    "tensorflow-cpu": "tensorflow-cpu",
    "tensorflow-gpu": "tensorflow-gpu",  # the GPU build, or the CPU one: tensorflow_for_device
    "tensorflow-mkl": "tensorflow-cpu",
    "keras": "keras",
    "tf-keras": "tf-keras",
    "tensorboard": "tensorboard",
    "scikit-learn": "scikit-learn",
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "matplotlib-base": "matplotlib",
    "pillow": "pillow",
    "horovod": "horovod",
    "mpi4py": "mpi4py",
    "h5py": "h5py",
    "pyyaml": "pyyaml",
    "requests": "requests",
    "tqdm": "tqdm",
    "seaborn": "seaborn",
    "mlflow": "mlflow",
}

# Packages that conda specs list for their own tooling; pip comes with every environment.
CONDA_TOOLING = {"pip", "setuptools", "wheel", "python"}

# Azure ML SDK packages: runyard provides their API inside every job, so they are skipped.
AZUREML_PREFIXES = ("azureml-", "azureml_", "azure-ml", "azureml")

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:(==|>=|<=|>|<|!=|=)\s*([^\s=]+))?\s*(?:=\S+)?\s*$")


class CondaMappingError(ValueError):
    pass


def split_conda_spec(spec: str) -> tuple[str, str | None, str | None]:
    """'numpy=1.26' -> ('numpy', '==', '1.26'); 'python=3.11' -> ('python', '==', '3.11')."""
    spec = spec.split("::")[-1]  # channel::package
    match = _SPEC.match(spec)
    if not match:
        raise CondaMappingError(f"cannot read the conda package spec {spec!r}")
    name, op, version = match.groups()
    if op == "=":
        op = "=="
        # conda's "=1.2" means 1.2.*; pip's ==1.2 matches 1.2.0 only: use a wildcard
        if version and version.count(".") < 2 and not version.endswith("*"):
            version = version + ".*"
    return name.lower(), op, version


def conda_to_pip(spec: str) -> str | None:
    """The PyPI requirement for a conda package spec; None for conda's own tooling.
    Raises CondaMappingError naming the package and what to do."""
    name, op, version = split_conda_spec(spec)
    if name in CONDA_TOOLING:
        return None
    if name not in CONDA_TO_PYPI:
        raise CondaMappingError(
            f"conda package {name!r} has no known PyPI equivalent; environments are built from "
            "PyPI. Move it to the pip: section (or pip_packages=) under its PyPI name, or "
            "install it in the interpreter and set env.python.user_managed_dependencies=True.")
    pypi = CONDA_TO_PYPI[name]
    return f"{pypi}{op}{version}" if op and version else pypi


def is_azureml_package(requirement: str) -> bool:
    return requirement.strip().lower().startswith(AZUREML_PREFIXES)


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


AND_CUDA_FROM = (2, 14)  # TensorFlow brings its CUDA libraries from PyPI (tensorflow[and-cuda]) from 2.14


def _pinned_version(spec: str) -> tuple[int, ...] | None:
    match = re.search(r"==\s*(\d+)\.(\d+)", spec)
    return (int(match.group(1)), int(match.group(2))) if match else None


def tensorflow_for_device(requirement: str, gpu: bool) -> tuple[str, str | None]:
    """TensorFlow for the machine the job runs on: with a GPU, `tensorflow`, `tensorflow-gpu`
    and `tensorflow[and-cuda]` install TensorFlow with its CUDA libraries from PyPI (no system
    CUDA); without one, a GPU build asked for becomes the CPU build. Returns the requirement
    and the warning it gives, if any. Other requirements pass unchanged."""
    name = requirement_name(requirement)
    if name not in ("tensorflow", "tensorflow-gpu"):
        return requirement, None
    spec = re.sub(r"^\s*[A-Za-z0-9_.\-]+\s*(\[[^\]]*\])?", "", requirement)
    asked_gpu = name == "tensorflow-gpu" or "and-cuda" in requirement
    version = _pinned_version(spec)
    if gpu:
        if version is None or version >= AND_CUDA_FROM:
            return f"tensorflow[and-cuda]{spec}", None
        cpu = f"{'tensorflow-cpu' if version >= (2, 1) else 'tensorflow'}{spec}"
        return cpu, (f"{requirement.strip()}: TensorFlow before 2.14 needs CUDA installed on the machine "
                     f"for its GPU build, and runyard installs CUDA from PyPI only: installing {cpu} "
                     "(ask for TensorFlow 2.14 or newer to train on the GPU).")
    if asked_gpu:
        cpu = f"tensorflow-cpu{spec}"
        return cpu, f"{requirement.strip()} needs a GPU, which this compute does not have: installing {cpu} instead."
    return requirement, None
