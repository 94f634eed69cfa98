"""Finding a Python interpreter of a requested version on this machine (uv cannot download
one here): the current interpreter, pyenv's versions, then pythonX.Y on PATH."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys

from runyard import settings
from runyard.errors import UserErrorException


class InterpreterNotFound(UserErrorException):
    pass


@functools.lru_cache(maxsize=64)
def version_of(executable: str) -> str | None:
    try:
        out = subprocess.run([executable, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _guess(executable: str) -> str | None:
    """A version read from the path alone (pyenv's versions/3.12.1/, python3.12), or None."""
    match = re.search(r"versions/(\d+\.\d+\.\d+)/bin/python3$", executable) or \
        re.search(r"python(\d+\.\d+)$", executable)
    return match.group(1) if match else None


def candidates() -> list[tuple[str, str | None]]:
    """(executable, version guessed from its path) for every CPython found, no subprocess."""
    found = [(sys.executable, ".".join(map(str, sys.version_info[:3])))]
    pyenv_root = str(settings.pyenv_root())
    for exe in sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3"))):
        found.append((exe, _guess(exe)))
    for minor in range(6, 16):
        exe = shutil.which(f"python3.{minor}")
        if exe:
            found.append((exe, _guess(exe)))
    seen, unique = set(), []
    for exe, guess in found:
        real = os.path.realpath(exe)
        if real not in seen and os.path.exists(exe):
            seen.add(real)
            unique.append((exe, guess))
    return unique


def _matches(version: str | None, wanted: str) -> bool:
    return version is not None and (version == wanted or version.startswith(wanted + "."))


def available() -> dict[str, str]:
    """Full version -> executable, for every CPython found (runs each one: slow)."""
    versions = {}
    for exe, _ in candidates():
        version = version_of(exe)
        if version and version not in versions:
            versions[version] = exe
    return versions


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def find(requested: str) -> tuple[str, str]:
    """(executable, full version) for 'X.Y' or 'X.Y.Z' (X.Y.Z also accepts another patch).
    Versions are read from paths first; only the chosen interpreter is run, to confirm."""
    parts = requested.strip().rstrip(".*").split(".")
    wanted = ".".join(parts[:2])
    exact = ".".join(parts[:3]) if len(parts) >= 3 else None
    guessed = [(exe, v) for exe, v in candidates() if _matches(v, wanted)]
    guessed.sort(key=lambda item: (item[1] == exact, item[0] == sys.executable, _key(item[1])),
                 reverse=True)
    for exe, _ in guessed:
        version = version_of(exe)
        if _matches(version, wanted):
            return exe, version
    matches = {v: exe for v, exe in available().items() if _matches(v, wanted)}
    if not matches:
        have = ", ".join(sorted(available(), key=_key))
        raise InterpreterNotFound(
            f"Python {requested} is not installed on this compute (environments use the "
            f"interpreters that exist; none can be downloaded). Available: {have}. Change "
            "python=X.Y in the conda specification (or python_version=) to one of these.")
    version = exact if exact in matches else max(matches, key=_key)
    return matches[version], version
