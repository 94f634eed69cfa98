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


@pytest.fixture
def browser():
    """A real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium)
    with a fresh profile: a browser that never chose a view."""
    import shutil
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    # Chromium puts Unix sockets in its profile and TMPDIR: a test's tmp_path is too long a
    # path for one (108 bytes), hence a short folder of its own under /tmp.
    short = Path(tempfile.mkdtemp(prefix="runyard-chromium-", dir="/tmp"))
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,900", f"--user-data-dir={short / 'profile'}"):
        options.add_argument(argument)  # (a fresh profile: a browser that never chose a view)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver",
                      env={**os.environ, "TMPDIR": str(short)})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(short, ignore_errors=True)



BUILD_MODELS = """
import sys
import numpy as np
import tensorflow as tf

out = sys.argv[1]


def linear(scale):
    model = tf.keras.Sequential([tf.keras.Input(shape=(4,), name="x"), tf.keras.layers.Dense(2)])
    model.layers[-1].set_weights([np.arange(8, dtype="float32").reshape(4, 2) * scale,
                                  np.array([1, -1], dtype="float32")])
    return model


linear(1).export(f"{out}/linear-v1")
linear(2).export(f"{out}/linear-v2")
linear(3).save(f"{out}/linear.keras")


class Multi(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="a"),
                                  tf.TensorSpec([None], tf.int32, name="b")])
    def serve(self, a, b):
        return {"total": tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32), "doubled": b * 2}


multi = Multi()
tf.saved_model.save(multi, f"{out}/multi", signatures={"serving_default": multi.serve})
"""


@pytest.fixture(scope="session")
def tf_models(tmp_path_factory) -> Path:
    """SavedModels and a Keras file with known weights, built once in a TensorFlow process."""
    out = tmp_path_factory.mktemp("tf-models")
    env = {**os.environ, "TMPDIR": str(out), "KERAS_HOME": str(out / "keras"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", BUILD_MODELS, str(out)], check=True, env=env,
                   capture_output=True, timeout=600)
    return out
