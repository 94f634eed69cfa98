"""Tensorboard (v1's signature): copies each run's `logs/` artifacts (where TensorBoard event
files go: Keras' TensorBoard callback, tf.summary) into a folder per run, named by the run's
display name, keeps copying while runs are active (their logs reach the artifacts every few
seconds), and serves that folder with TensorBoard in a child process.

Event files are append-only: a file that grew gets only its new bytes appended, so TensorBoard,
which reads each file on from where it stopped, sees new points without starting over.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from runyard.errors import UserErrorException, received

LOGS = "logs"
SYNC_SECONDS = 2.0
START_TIMEOUT = 120.0


def _folder_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip() or "run"
    found, n = base, 2
    while found in taken:
        found, n = f"{base} ({n})", n + 1
    taken.add(found)
    return found


class Tensorboard:
    """Example:
        tb = Tensorboard([run1, run2])
        print(tb.start())  # the URL
        ...
        tb.stop()
    """

    def __init__(self, runs, local_root: str | None = None, port: int = 6006):
        from runyard.runs.run import Run

        runs = list(runs) if isinstance(runs, (list, tuple)) else [runs]
        if not runs or not all(isinstance(r, Run) for r in runs):
            raise UserErrorException(f"Tensorboard takes a list of runs (Run objects). Received: {received(runs)}")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise UserErrorException(f"port is a TCP port number (1-65535). Received: port={received(port)}")
        self.runs = runs
        self.port = port
        self._own_root = local_root is None
        self.local_root = Path(local_root) if local_root else None
        self._process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self._copied: dict[tuple[str, str], int] = {}

    def start(self, start_browser: bool = False) -> str:
        """Copy the runs' event files, start TensorBoard and return its URL; active runs keep
        being followed until stop()."""
        if self._process is not None:
            return self.url
        if importlib.util.find_spec("tensorboard") is None:  # (it runs as `python -m tensorboard.main`)
            raise UserErrorException("TensorBoard is not installed here: pip install tensorboard "
                                     "(or runyard[tensorflow]).")
        _check_port(self.port)
        if self.local_root is None:
            self.local_root = Path(tempfile.mkdtemp(prefix="runyard-tensorboard-"))
        self.local_root.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        self._folders = {run.id: self.local_root / _folder_name(run.display_name, taken) for run in self.runs}
        active = self._sync()
        self._log = tempfile.TemporaryFile()  # (a pipe nobody reads would fill and stall it)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(self.local_root), "--host", "127.0.0.1",
             "--port", str(self.port), "--reload_interval", "1"],
            stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        self._wait_until_serving()
        if active:
            self._syncer = threading.Thread(target=self._follow, name="runyard-tensorboard", daemon=True)
            self._syncer.start()
        if start_browser:
            import webbrowser

            webbrowser.open(self.url)
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        """Stop TensorBoard and the copying (and remove the copies unless local_root was given)."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=30)
        if self._process is not None:
            try:
                os.killpg(self._process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
            self._process = None
            self._log.close()
        if self._own_root and self.local_root is not None:
            shutil.rmtree(self.local_root, ignore_errors=True)
            self.local_root = None

    def _follow(self) -> None:
        while not self._stop.wait(SYNC_SECONDS):
            try:
                if not self._sync():
                    return  # every run ended and its last files are copied
            except Exception as exc:  # noqa: BLE001  a network hiccup: try again next round
                print(f"runyard tensorboard: copying the runs' logs failed, retrying: {exc}", file=sys.stderr)

    def _sync(self) -> bool:
        """Copy what is new in each run's logs/; returns whether any run is still active."""
        from runyard.runs.status import RunStatus
        from runyard.stores import tracking

        active = False
        for run in self.runs:
            record = run._refresh()
            ended = RunStatus(record["status"]).is_terminal()  # (read before the files: nothing missed)
            active = active or not ended
            sizes = tracking.file_sizes(run._ws.tracking_uri, record["mlflow_run_id"], LOGS)
            for artifact, size in sizes.items():
                self._copy(run, record["mlflow_run_id"], artifact, size)
        return active

    def _copy(self, run, mlflow_run_id: str, artifact: str, size: int) -> None:
        from runyard.stores import tracking

        key = (run.id, artifact)
        have = self._copied.get(key, 0)
        if size == have:
            return
        target = self._folders[run.id] / Path(artifact).relative_to(LOGS)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="runyard-tb-") as tmp:
            data = tracking.download(run._ws.tracking_uri, mlflow_run_id, artifact, Path(tmp)).read_bytes()
        if size > have and target.exists() and target.stat().st_size == have:
            with open(target, "ab") as fh:  # (event files only grow: append what is new)
                fh.write(data[have:])
        else:
            tmp_target = target.with_name(f".{target.name}.part")
            tmp_target.write_bytes(data)
            os.replace(tmp_target, target)
        self._copied[key] = len(data)

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._log.seek(0)
                error = self._log.read().decode(errors="replace")[-2000:]
                self.stop()
                raise UserErrorException(f"TensorBoard did not start:\n{error}")
            try:
                with urllib.request.urlopen(f"{self.url}data/environment", timeout=2):
                    return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise UserErrorException(f"TensorBoard did not answer on port {self.port} within {START_TIMEOUT:.0f} s.")


def _check_port(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UserErrorException(
                f"Cannot serve TensorBoard on port {port}: {exc.strerror}. Another program uses it; "
                f"pass another port (Tensorboard(runs, port={port + 1}), --port {port + 1}).") from None
