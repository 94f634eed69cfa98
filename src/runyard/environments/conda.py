"""CondaDependencies (SDK v1): a conda environment spec, kept as the YAML structure v1 uses."""

from __future__ import annotations

import copy
from pathlib import Path

from runyard.errors import UserErrorException, received

PYTHON_DEFAULT_VERSION = "3.11"


class CondaDependencies:
    """Example:
        cd = CondaDependencies.create(pip_packages=["tensorflow-cpu==2.21.0"], python_version="3.11")
        cd.add_pip_package("pandas")
        env.python.conda_dependencies = cd
    """

    def __init__(self, conda_dependencies_file_path=None, _underlying_structure=None):
        if conda_dependencies_file_path is not None:
            _underlying_structure = _read_yaml(Path(conda_dependencies_file_path))
        structure = copy.deepcopy(_underlying_structure) if _underlying_structure else {}
        structure.setdefault("name", "project_environment")
        structure.setdefault("channels", ["conda-forge"])
        structure.setdefault("dependencies", [f"python={PYTHON_DEFAULT_VERSION}"])
        _validate(structure)
        self._structure = structure

    @staticmethod
    def create(pip_indexurl=None, pip_packages=None, conda_packages=None,
               python_version=PYTHON_DEFAULT_VERSION, pin_sdk_version=True) -> CondaDependencies:
        cd = CondaDependencies(_underlying_structure={
            "dependencies": [f"python={python_version}"] if python_version else []})
        for package in conda_packages or []:
            cd.add_conda_package(package)
        for package in pip_packages or []:
            cd.add_pip_package(package)
        if pip_indexurl:
            cd.set_pip_option(f"--index-url {pip_indexurl}")
        return cd

    # -- editing -------------------------------------------------------------------------
    def _pip_section(self) -> list:
        for item in self._structure["dependencies"]:
            if isinstance(item, dict) and "pip" in item:
                return item["pip"]
        section: list = []
        self._structure["dependencies"].append({"pip": section})
        return section

    def add_pip_package(self, pip_package: str) -> None:
        _check_package(pip_package)
        section = self._pip_section()
        if pip_package not in section:
            section.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        section = self._pip_section()
        section[:] = [p for p in section if p.split("=")[0].split("<")[0].split(">")[0] != pip_package]

    def add_conda_package(self, conda_package: str) -> None:
        _check_package(conda_package)
        deps = self._structure["dependencies"]
        if conda_package not in deps:
            # keep the pip section last, as conda writes it
            index = next((i for i, d in enumerate(deps) if isinstance(d, dict)), len(deps))
            deps.insert(index, conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        self._structure["dependencies"] = [
            d for d in self._structure["dependencies"]
            if isinstance(d, dict) or d.split("=")[0] != conda_package]

    def add_channel(self, channel: str) -> None:
        if channel not in self._structure["channels"]:
            self._structure["channels"].append(channel)

    def set_pip_option(self, pip_option: str) -> None:
        section = self._pip_section()
        key = pip_option.split()[0]
        section[:] = [p for p in section if not p.startswith(key)]
        section.insert(0, pip_option)

    def set_python_version(self, version: str) -> None:
        self.remove_conda_package("python")
        self._structure["dependencies"].insert(0, f"python={version}")

    def add_tensorflow_pip_package(self, core_type="cpu", version=None) -> None:
        """TensorFlow `version` (v1's default, 2.2.0, when None) for this spec's Python; a
        release with no wheels for that Python becomes the nearest that has, with a warning."""
        from runyard.environments import tensorflow_releases

        if str(core_type).lower() not in ("cpu", "gpu"):
            raise UserErrorException(f"core_type is 'cpu' or 'gpu'. Received: core_type={received(core_type)}")
        wanted = str(version) if version is not None else tensorflow_releases.V1_DEFAULT_VERSION
        python = ".".join((self.get_python_version() or PYTHON_DEFAULT_VERSION).split(".")[:2])
        choice = tensorflow_releases.choose(wanted, python=python)
        if choice is None:
            raise UserErrorException(
                f"No TensorFlow release installs on Python {python} here, or {wanted!r} is not a "
                "TensorFlow version (like '2.2' or '2.2.0'). Set another python_version or version.")
        if choice.minor != tensorflow_releases.parse_minor(wanted):
            import warnings

            asked = "v1's default TensorFlow " if version is None else "TensorFlow "
            warnings.warn(
                f"{asked}{wanted} has no build for Python {python}: adding {choice.requirements[0]}, "
                f"the nearest release that installs on it (or set_python_version to one that "
                f"{wanted} supports).", UserWarning, stacklevel=2)
        package, *pins = choice.requirements
        if str(core_type).lower() == "gpu" and choice.minor >= (2, 1):
            package = package.replace("tensorflow-cpu", "tensorflow")  # the GPU-capable build
        elif str(core_type).lower() == "gpu":
            package = package.replace("tensorflow", "tensorflow-gpu", 1)
        for requirement in (package, *pins):
            self.add_pip_package(requirement)

    add_tensorflow_conda_package = add_tensorflow_pip_package

    # -- reading -------------------------------------------------------------------------
    @property
    def conda_packages(self):
        return iter([d for d in self._structure["dependencies"]
                     if isinstance(d, str) and not d.startswith("python")])

    @property
    def pip_packages(self):
        return iter([p for p in self._pip_section() if not p.startswith("-")])

    @property
    def pip_options(self):
        return iter([p for p in self._pip_section() if p.startswith("-")])

    def get_python_version(self) -> str | None:
        for dep in self._structure["dependencies"]:
            if isinstance(dep, str) and dep.replace(" ", "").startswith("python") and \
                    not dep.startswith("python-"):
                _, _, version = dep.partition("=")
                return version.lstrip("=") or None
        return None

    def as_dict(self) -> dict:
        return copy.deepcopy(self._structure)

    def serialize_to_string(self) -> str:
        import yaml

        return yaml.safe_dump(self._structure, sort_keys=False)

    def save(self, path: str | None = None) -> str:
        target = Path(path or "conda_dependencies.yml")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.serialize_to_string())
        return str(target)

    def save_to_file(self, base_directory: str, conda_file_path: str | None = None) -> str:
        return self.save(str(Path(base_directory) / (conda_file_path or "conda_dependencies.yml")))

    def __eq__(self, other) -> bool:
        return isinstance(other, CondaDependencies) and other._structure == self._structure

    def __repr__(self) -> str:
        return f"CondaDependencies({self._structure!r})"


def _check_package(package) -> None:
    if not isinstance(package, str) or not package.strip():
        raise UserErrorException(f"A package is a non-empty string such as 'numpy==1.26'. "
                                 f"Received: {received(package)}")


def _read_yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        raise UserErrorException(f"No conda specification file at {str(path)!r}.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserErrorException(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserErrorException(f"{path} must hold a mapping with 'dependencies'. Received: {received(data)}")
    return data


def _validate(structure: dict) -> None:
    deps = structure.get("dependencies")
    if not isinstance(deps, list):
        raise UserErrorException(
            f"A conda specification needs a 'dependencies' list. Received: dependencies={received(deps)}")
    for dep in deps:
        if isinstance(dep, dict):
            if set(dep) != {"pip"} or not isinstance(dep["pip"], list):
                raise UserErrorException(
                    f"The only mapping allowed in 'dependencies' is a 'pip:' list. Received: {received(dep)}")
        elif not isinstance(dep, str):
            raise UserErrorException(f"A conda dependency is a string. Received: {received(dep)}")
