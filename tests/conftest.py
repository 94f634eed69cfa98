"""Shared fixtures: every test gets its own RUNYARD_HOME, TMPDIR and KERAS_HOME, and fast
supervisor timings, so runs are real but quick and leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    home = tmp_path / "runyard-home"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("RUNYARD_HOME", str(home))
    monkeypatch.setenv("RUNYARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("RUNYARD_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("RUNYARD_HEARTBEAT_TIMEOUT", "4")
    monkeypatch.setenv("RUNYARD_INGEST_INTERVAL", "0.3")
    monkeypatch.setenv("RUNYARD_KILL_GRACE", "2")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("RUNYARD_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield


@pytest.fixture
def ws(tmp_path):
    from runyard.core import Workspace

    return Workspace.from_config()


@pytest.fixture
def src(tmp_path):
    """A source folder; write scripts into it with write(name, body)."""
    folder = tmp_path / "src"
    folder.mkdir()

    class Source:
        path = folder

        def write(self, name: str, body: str) -> Path:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(body))
            return target

    return Source()


def wait_until(condition, timeout: float = 60.0, interval: float = 0.1, message: str = ""):
    """Poll `condition` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message or condition}")


def runyard_cli(*args, timeout: float = 300, check: bool = False, env_extra=None, **kwargs):
    """Run the real `runyard` command in a subprocess."""
    result = subprocess.run([sys.executable, "-m", "runyard.cli", *args], capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, **(env_extra or {})},
                            **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"runyard {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
