"""Real servers for data tests, on loopback: an HTTP file server (with a route that breaks its
transfers) and an S3-compatible moto server that checks credentials."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ALLOW_ALL = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
             '"Resource":"*"}]}')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HttpFiles:
    """Serves a folder. /broken/<name> announces the file's size and sends half of it."""

    def __init__(self, root: Path):
        self.root = root
        files = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(files.root), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/broken/"):
                    body = (files.root / self.path[len("/broken/"):]).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                super().do_GET()

            def do_HEAD(self):
                if self.path.startswith("/broken/"):
                    size = (files.root / self.path[len("/broken/"):]).stat().st_size
                    self.send_response(200)
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    return
                super().do_HEAD()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MotoS3:
    """A moto server in its own process. Requests need the access key it issues (moto
    authenticates after its first three IAM calls, which create that key)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3", AWS_ACCESS_KEY_ID="bootstrap",
                   AWS_SECRET_ACCESS_KEY="bootstrap", TMPDIR=str(workdir))
        self.log = open(workdir / "moto.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="runyard")
        key = iam.create_access_key(UserName="runyard")["AccessKey"]
        iam.put_user_policy(UserName="runyard", PolicyName="all", PolicyDocument=ALLOW_ALL)
        self.key, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=self.key, aws_secret_access_key=self.secret)

    def environment(self) -> dict[str, str]:
        """What a job needs for plain s3:// URLs (boto reads these)."""
        return {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": "us-east-1"}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Postgres:
    """A throwaway PostgreSQL cluster (initdb) on a free loopback port. As root it runs as the
    `postgres` user, which PostgreSQL requires. With a password, connections must give it."""

    def __init__(self, password: str | None = None):
        import glob
        import shutil
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or \
            [p for p in [shutil.which("initdb")] if p]
        if not found:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql); "
                               "scripts/bootstrap.sh installs it")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="runyard-pg-", dir="/var/tmp"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        self.password = password
        auth = ["-A", "trust"]
        if password:
            (self.root / "pw").write_text(password)
            auth = ["-A", "scram-sha-256", f"--pwfile={self.root / 'pw'}"]
        self._run(self.bin / "initdb", "-D", data, *auth, "-U", "runyard", "--no-sync")
        self._run(self.bin / "pg_ctl", "-D", data, "-l", self.root / "server.log", "-w", "-o",
                  f"-p {self.port} -k {self.root} -h 127.0.0.1 -F", "start")
        self.data = data
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "runyard",
                  "runyard")

    def url(self, database: str = "runyard") -> str:
        user = f"runyard:{self.password}" if self.password else "runyard"
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "runyard", name)
        return self.url(name)

    def _run(self, *args) -> None:
        env = {**os.environ, **({"PGPASSWORD": self.password} if self.password else {})}
        subprocess.run([*self.as_user, *map(str, args)], check=True, capture_output=True,
                       cwd=self.root, env=env)

    def stop(self) -> None:
        import shutil

        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
