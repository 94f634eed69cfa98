"""Curated environments: usable by name without registering; their names say what they hold."""

from __future__ import annotations

from runyard.errors import NotFoundError, UserErrorException

CURATED_PREFIX = "runyard-"  # names of curated environments (v1 reserves AzureML- for its own)

_TF = "2.21.0"
CURATED: dict[str, dict] = {
    # TensorFlow (CPU) with Keras 3 and tf-keras (Keras 2, for distributed TensorFlow jobs),
    # and the packages a Keras training script usually needs.
    f"runyard-tensorflow-{_TF.rsplit('.', 1)[0]}-cpu": {
        "python": "3.11",
        "pip": [f"tensorflow-cpu=={_TF}", f"tf-keras=={_TF}", f"tensorboard=={_TF}",
                "numpy", "pandas", "matplotlib", "scikit-learn", "scipy", "mlflow-skinny>=3,<4"],
    },
    # The same with TensorFlow's GPU build and its CUDA libraries from PyPI where the compute
    # has an NVIDIA GPU (the CPU build elsewhere, with a warning).
    f"runyard-tensorflow-{_TF.rsplit('.', 1)[0]}-gpu": {
        "python": "3.11",
        "pip": [f"tensorflow[and-cuda]=={_TF}", f"tf-keras=={_TF}", f"tensorboard=={_TF}",
                "numpy", "pandas", "matplotlib", "scikit-learn", "scipy", "mlflow-skinny>=3,<4"],
    },
    # Python alone: the quickest environment to build.
    "runyard-python-3.11-minimal": {"python": "3.11", "pip": []},
}


def names() -> list[str]:
    return sorted(CURATED)


def is_curated(name: str) -> bool:
    return name.lower().startswith(CURATED_PREFIX)


VERSION = "1"  # curated environments have one version each; their names say what they hold


def spec(name: str, version=None) -> dict:
    """The curated environment's python version and pip packages (Environment.get builds it)."""
    spec = CURATED.get(name)
    if spec is None:
        raise NotFoundError(
            f"No curated environment named {name!r}. Curated environments: {', '.join(names())}.")
    if version is not None and str(version) != VERSION:
        raise UserErrorException(
            f"Curated environment {name!r} has version {VERSION} only. Received: version={version!r}. "
            f"Leave the version out, or use {name}:{VERSION}.")
    return spec
