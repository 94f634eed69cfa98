"""Materialising a build plan as a cached virtual environment, once per content hash.

<cache>/envs/<hash>/ is built with uv (packages hardlinked from uv's cache) and becomes usable
when its `.runyard-complete` marker is written. A file lock serialises builders of the same
hash: the second run waits and reuses the first one's result. A failed build is deleted, and a
folder without the marker (a builder that was killed) is rebuilt from scratch.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from runyard import settings
from runyard.environments.plan import BuildPlan, EnvironmentBuildError

MARKER = ".runyard-complete"
LAST_USED = ".runyard-last-used"


def envs_dir() -> Path:
    return settings.runyard_cache() / "envs"


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvironmentBuildError("uv is not installed; install it with `pip install uv`.")


def env_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def materialize(plan: BuildPlan, log: Callable[[str], None]) -> Path:
    """Return the environment's interpreter, building it first if no run has."""
    env_dir = envs_dir() / plan.hash
    if (env_dir / MARKER).exists():
        _touch(env_dir)
        log(f"Environment {plan.name!r}: reusing cached environment {plan.hash}")
        return env_python(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(env_dir.parent / f"{plan.hash}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"Environment {plan.name!r}: another run is making {plan.hash}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (env_dir / MARKER).exists():
            _touch(env_dir)
            log(f"Environment {plan.name!r}: built by another run; reusing {plan.hash}")
            return env_python(env_dir)
        if env_dir.exists():
            log("Removing an incomplete environment left by an interrupted build")
            shutil.rmtree(env_dir)
        try:
            _build(plan, env_dir, log)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
    return env_python(env_dir)


def _build(plan: BuildPlan, env_dir: Path, log: Callable[[str], None]) -> None:
    started = time.monotonic()
    log(f"Environment {plan.name!r}: building {plan.hash} with Python {plan.python_version}")
    for note in plan.notes:
        log(f"  {note}")
    uv = uv_binary()
    env = {**os.environ, **plan.install_env, "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONPATH", None)
    _uv(log, env, uv, "venv", "--quiet", "--python", plan.python, str(env_dir))
    python = str(env_python(env_dir))
    if plan.requirements:
        log(f"  installing {len(plan.requirements)} packages: {', '.join(plan.requirements)}")
        _uv(log, env, uv, "pip", "install", "--python", python, *_options(plan), *plan.requirements)
    if plan.no_deps:
        log(f"  installing without dependencies: {', '.join(plan.no_deps)}")
        _uv(log, env, uv, "pip", "install", "--python", python, "--no-deps", *_options(plan), *plan.no_deps)
    if plan.no_isolation:
        log(f"  building against the environment: {', '.join(plan.no_isolation)} "
            "(this can take minutes the first time; uv caches the result)")
        _uv(log, env, uv, "pip", "install", "--python", python, "--no-build-isolation",
            *_options(plan), *plan.no_isolation)
    (env_dir / "runyard-environment.json").write_text(json.dumps({
        "name": plan.name, "hash": plan.hash, "python": plan.python_version,
        "requirements": plan.requirements, "no_deps": plan.no_deps, "built": time.time()}, indent=2))
    (env_dir / MARKER).write_text(f"{time.monotonic() - started:.1f}\n")
    _touch(env_dir)
    log(f"Environment {plan.name!r}: built in {time.monotonic() - started:.1f} s")


def _options(plan: BuildPlan) -> list[str]:
    return [token for option in plan.pip_options for token in option.split()]


def _uv(log, env, *argv: str) -> None:
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    lines: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        log(f"  {line}")
    if proc.wait() != 0:
        tail = "\n".join(lines[-15:])
        raise EnvironmentBuildError(
            f"Building the environment failed (uv {argv[1]} exited with {proc.returncode}):\n{tail}\n"
            "Check the package names and versions in the environment's pip/conda lists.")


def _being_built(env_hash: str) -> bool:
    lock_path = envs_dir() / f"{env_hash}.lock"
    if not lock_path.exists():
        return False
    with open(lock_path) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def _touch(env_dir: Path) -> None:
    (env_dir / LAST_USED).touch()


def cached() -> list[dict]:
    """The cached environments: hash, name, size (unique blocks), last use."""
    out = []
    root = envs_dir()
    if not root.is_dir():
        return out
    for env_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        info = {"hash": env_dir.name, "complete": (env_dir / MARKER).exists()}
        try:
            info.update(json.loads((env_dir / "runyard-environment.json").read_text()))
        except (OSError, ValueError):
            pass
        used = env_dir / LAST_USED
        info["last_used"] = used.stat().st_mtime if used.exists() else env_dir.stat().st_mtime
        info["bytes"] = disk_usage(env_dir)
        out.append(info)
    return out


def disk_usage(folder: Path, seen: set | None = None) -> int:
    """Bytes of the files under `folder`, each inode counted once (hardlinks share blocks)."""
    seen = set() if seen is None else seen
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


def prune(older_than_days: float, everything: bool, in_use: set[str], dry_run: bool = False) -> list[dict]:
    """Remove cached environments not used for `older_than_days` (all with `everything`),
    never one an active run is using. Returns what was (or would be) removed."""
    removed = []
    cutoff = time.time() - older_than_days * 86400
    for info in cached():
        if info["hash"] in in_use or _being_built(info["hash"]):
            continue
        if everything or not info["complete"] or info["last_used"] < cutoff:
            removed.append(info)
            if not dry_run:
                shutil.rmtree(envs_dir() / info["hash"], ignore_errors=True)
                (envs_dir() / f"{info['hash']}.lock").unlink(missing_ok=True)
    return removed
