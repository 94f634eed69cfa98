"""A real `runyard server` for team-mode tests: PostgreSQL (with a password, given the way
the README says: in RUNYARD_BACKEND_STORE_URI), an S3-compatible store (moto), and clients
that have only its URL and the token. Each client runs in its own mount namespace where the
server's workspace folder and the database's folder are hidden (an empty tmpfs over them), so
it cannot reach the server's files even by accident."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import requests

from conftest import wait_until
from data_servers import MotoS3, Postgres, free_port

BUCKET = "team-artifacts"


class TeamServer:
    def __init__(self, root: Path, env_extra: dict[str, str] | None = None):
        self.root = root
        self.pg = Postgres(password=secrets.token_urlsafe(12))
        self.moto = MotoS3(root)
        self.moto.client().create_bucket(Bucket=BUCKET)
        self.token = secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workspace_dir = root / "ws"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "AWS_"))}
        env.update(self.moto.environment(), MLFLOW_S3_ENDPOINT_URL=self.moto.endpoint_url,
                   RUNYARD_SERVER_TOKEN=self.token, RUNYARD_HOME=str(root / "home"),
                   RUNYARD_CACHE=str(root / "cache"), TMPDIR=str(root / "tmp"),
                   KERAS_HOME=str(root / "keras"), RUNYARD_HEARTBEAT_INTERVAL="0.5",
                   RUNYARD_HEARTBEAT_TIMEOUT="4", RUNYARD_INGEST_INTERVAL="0.3",
                   RUNYARD_KILL_GRACE="2", RUNYARD_BACKEND_STORE_URI=self.pg.url(), **(env_extra or {}))
        (root / "tmp").mkdir()
        self.log_path = root / "server.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runyard.cli", "server", "--workspace-dir", str(self.workspace_dir),
             "--port", str(self.port), "--artifacts-destination", f"s3://{BUCKET}/artifacts"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=root)
        try:
            wait_until(self._up, 90, message="runyard server to answer /health")
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"runyard server exited:\n{self.log_path.read_text()}")
        try:
            return requests.get(f"{self.url}/health", timeout=1).ok
        except requests.ConnectionError:
            return False

    def hidden(self) -> list[Path]:
        """What a client must not see: the server's folder and the database's."""
        return [self.root, self.pg.root]

    def stop(self) -> None:
        # Endpoints outlive the server that started them (as they should): stop them first.
        api = f"{self.url}/api/runyard/v1/endpoints"
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            for record in requests.get(api, headers=headers, timeout=30).json():
                requests.post(f"{api}/delete", json={"name": record["name"]}, headers=headers, timeout=60)
        except (requests.RequestException, ValueError, TypeError):
            pass  # the server never answered: it started nothing
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.moto.stop()
        self.pg.stop()


def client_process(team: TeamServer, folder: Path, code: str, *args: str,
                   token: str | None = None) -> subprocess.Popen:
    """Start `code` as a client process whose only link to the workspace is config.json."""
    (folder / ".runyard").mkdir(parents=True, exist_ok=True)
    (folder / ".runyard" / "config.json").write_text(json.dumps(
        {"workspace_name": "team", "server_url": team.url}))
    (folder / "client.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env["RUNYARD_WORKSPACE_TOKEN"] = team.token if token is None else token
    mounts = " && ".join(f"mount -t tmpfs none {p}" for p in team.hidden())
    command = ["unshare", "--mount", "sh", "-c", f'{mounts} && exec "$@"', "sh",
               sys.executable, "client.py", *args]
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def client(team: TeamServer, folder: Path, code: str, *args: str, token: str | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    proc = client_process(team, folder, code, *args, token=token)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def checked(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"client failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def result_of(stdout: str) -> dict:
    line = [line for line in stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])
