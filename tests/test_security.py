"""Attacks on the team server, over real HTTP: crafted archives, unauthenticated and oversized
bodies, slow clients, paths that climb out of a datastore, secrets a job or a scoring worker
could read, tampered snapshots. Each checks what docs/architecture.md's threat model says:
who needs the token, what a job can reach, what an endpoint caller can reach."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import psutil
import pytest
import requests

from conftest import runyard_cli, wait_until
from data_servers import free_port
from team import TeamServer, checked, client, result_of

pytestmark = pytest.mark.server

UPLOAD_MAX_MB = 40
SNAPSHOT_MAX_MB = 5
API = "/api/runyard/v1"


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    server = TeamServer(tmp_path_factory.mktemp("attacked-server"), env_extra={
        "RUNYARD_UPLOAD_MAX_MB": str(UPLOAD_MAX_MB), "RUNYARD_ARCHIVE_MAX_MEMBERS": "500",
        "RUNYARD_SNAPSHOT_MAX_MB": str(SNAPSHOT_MAX_MB)})
    yield server
    server.stop()


def bearer(team) -> dict:
    return {"Authorization": f"Bearer {team.token}"}


def server_rss(team) -> int:
    return psutil.Process(team.process.pid).memory_info().rss


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def entry(name: str, kind=tarfile.REGTYPE, data: bytes | None = b"x", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, (data if kind == tarfile.REGTYPE else None)


def crafted_archives(outside: Path) -> dict[str, bytes]:
    """Archives that wrote outside the workspace, or exploded, with tarfile's filters."""
    long_dirs = []
    name = ""
    for level in range(8):  # the CVE-2025-4517 shape: names long enough to pass PATH_MAX
        name = f"{name}{'d' * 240}{level}/"
        long_dirs.append(entry(name, tarfile.DIRTYPE))
    return {
        "symlink out": tar_of(entry("model/data", tarfile.SYMTYPE, link=str(outside)),
                              entry("model/data/escape.txt", data=b"escaped")),
        "climbing name": tar_of(entry(f"model/../../../../../../..{outside}/escape.txt", data=b"escaped")),
        "absolute name": tar_of(entry(f"{outside}/escape.txt", data=b"escaped")),
        "hard link": tar_of(entry("model/passwd", tarfile.LNKTYPE, link="/etc/passwd")),
        "long names and links": tar_of(*long_dirs, entry(f"{name}l", tarfile.SYMTYPE, link="../" * 9 + str(outside)),
                                       entry(f"{name}l/escape.txt", data=b"escaped")),
        "device": tar_of(entry("model/null", tarfile.CHRTYPE)),
        "too many members": tar_of(*(entry(f"model/f{i}") for i in range(600))),
    }


def test_crafted_archives_are_refused_whole_and_write_nothing_outside(team, tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    meta = json.dumps({"framework": None, "framework_version": None, "description": None,
                       "tags": {}, "properties": {}, "resources": None, "run_id": None,
                       "mlflow_run_id": None})
    for label, archive in crafted_archives(outside).items():
        answer = requests.post(f"{team.url}{API}/models", params={"name": "evil", "meta": meta},
                               data=archive, headers=bearer(team), timeout=60)
        assert answer.status_code == 400, (label, answer.text)
        answer = requests.put(f"{team.url}{API}/datastores/files", params={"name": "workspaceblobstore"},
                              data=archive, headers=bearer(team), timeout=60)
        assert answer.status_code == 400, (label, answer.text)
    assert not any(outside.iterdir())
    assert requests.get(f"{team.url}{API}/models", params={"name": "evil"}, headers=bearer(team),
                        timeout=30).json() == []
    store = team.workspace_dir / "datastores" / "workspaceblobstore"
    assert not store.exists() or not any(store.rglob("*"))
    # Over the size limit: refused from Content-Length, before a byte of it is read.
    too_big = (UPLOAD_MAX_MB + 1) << 20
    status, _ = send_headers_then_body(team.port, f"{API}/models?name=big&meta=%7B%7D", too_big,
                                       {"Authorization": f"Bearer {team.token}"})
    assert status == 413
    # A client unpacks the server's answers with the same code: a malicious answer is refused.
    from runyard import archives
    from runyard.errors import UserErrorException

    monkeypatch.setenv("RUNYARD_ARCHIVE_MAX_MEMBERS", "500")
    for archive in crafted_archives(outside).values():
        with pytest.raises(UserErrorException):
            archives.unpack(io.BytesIO(archive), tmp_path / "unpacked")
        assert not (tmp_path / "unpacked").exists()
    assert not any(outside.iterdir())


def test_model_folders_with_links_to_themselves_are_refused(ws, tmp_path):
    from runyard.core import Model
    from runyard.errors import UserErrorException

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"graph")
    os.symlink(".", folder / "loop-a")
    os.symlink(".", folder / "loop-b")  # copytree following these wrote 1.3 million files
    with pytest.raises(UserErrorException, match="loop-a -> ."):
        Model.register(ws, model_path=str(folder), model_name="loops")
    assert sum(1 for _ in (ws.folder / "models").rglob("*") if _.is_file()) == 0
    os.unlink(folder / "loop-a")
    os.unlink(folder / "loop-b")
    os.symlink("saved_model.pb", folder / "alias.pb")  # a link to a file: copied as the file
    model = Model.register(ws, model_path=str(folder), model_name="linked")
    copied = Path(model.url) / "alias.pb"
    assert copied.read_bytes() == b"graph" and not copied.is_symlink()


def send_headers_then_body(port: int, path: str, declared: int, headers: dict,
                           send: int = 64 << 20) -> tuple[int, int]:
    """POST declaring `declared` bytes: the answer to the headers alone, then how many bytes
    of the body the server let through before it closed the connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {declared}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = sock.recv(65536)
    status = int(answer.split()[1])
    sent = 0
    chunk = b"0" * (1 << 20)
    try:
        while sent < send:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    sock.close()
    return status, sent


def send_chunked(port: int, path: str, total: int, headers: dict) -> int:
    """POST `total` bytes with chunked encoding (no Content-Length); the answer's status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    chunk = b"100000\r\n" + b"0" * (1 << 20) + b"\r\n"
    try:
        for _ in range(total >> 20):
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed before the end
    answer = sock.recv(65536)
    sock.close()
    return int(answer.split()[1])


def test_unauthenticated_bodies_are_never_read(team):
    before = server_rss(team)
    for _ in range(3):  # three 200 MB POSTs to the scoring proxy without a key or the token
        status, _ = send_headers_then_body(team.port, "/endpoints/some-svc/score", 200 << 20, {})
        assert status == 401
    status, _ = send_headers_then_body(team.port, "/endpoints/some-svc/score", 300 << 20, {})
    assert status == 413  # over any endpoint's limit: refused from the header
    # The token guard answers before the body for every other path.
    status, _ = send_headers_then_body(team.port, f"{API}/runs", 300 << 20, {})
    assert status == 401
    # With the token, a JSON route refuses more than it keeps in memory.
    status, _ = send_headers_then_body(team.port, f"{API}/runs", 100 << 20,
                                       {"Authorization": f"Bearer {team.token}"})
    assert status == 413
    assert send_chunked(team.port, f"{API}/runs", 80 << 20,  # no Content-Length to go by
                        {"Authorization": f"Bearer {team.token}"}) == 413
    assert server_rss(team) - before < 100 << 20, "unread bodies must not grow the server"


def test_slow_clients_do_not_hold_the_server(tmp_path):
    """1,100 connections that send their headers a byte at a time, against a server whose
    process may hold 1,024 descriptors: they are cut after the header timeout, real requests
    get through, and the log does not fill with a traceback per refused connection."""
    import resource

    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "RUNYARD_HTTP_HEADER_TIMEOUT": "2"}

    def limited():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "runyard.cli", "server", "--workspace-dir",
                                   str(tmp_path / "ws"), "--port", str(port)], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, preexec_fn=limited)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), 90, message="the server to start")
        slow = []
        for _ in range(1100):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                slow.append(sock)
            except OSError:
                continue
        started = time.monotonic()
        wait_until(lambda: _answers(url), 30, message="a real request to get through")
        assert time.monotonic() - started < 25
        for sock in slow:
            sock.close()
        assert log.stat().st_size < 200_000, log.read_text()[-2000:]
    finally:
        server.terminate()
        server.wait(20)


def test_failed_accepts_are_logged_once_a_minute_not_once_each(caplog):
    """asyncio's loop logs a traceback for every accept() that fails on a full descriptor
    table (the attack's log grew 248 MB in 70 s); the servers log it once a minute."""
    import logging

    from runyard import httpd

    httpd.harden_process()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(1000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                logging.getLogger("asyncio").error("socket.accept() out of system resource",
                                                   exc_info=True)
        logging.getLogger("asyncio").error("Task exception was never retrieved")
    accepts = [r for r in caplog.records if "accept" in r.getMessage()]
    assert len(accepts) <= 1 and all(r.exc_info is None for r in accepts)
    assert any("never retrieved" in r.getMessage() for r in caplog.records)  # others untouched


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).ok
    except requests.RequestException:
        return False


def test_datastore_paths_stay_inside_their_datastore(team, ws, tmp_path):
    def definition(path: str) -> dict:
        return {"definition": {"sources": [{"kind": "datastore", "datastore": "workspaceblobstore",
                                            "path": path}], "transforms": []}}

    for route in ("/datasets/files", "/datasets/entries"):
        for path in ("/etc/passwd", "../../../../etc/passwd", "a/../../../etc/**"):
            answer = requests.post(f"{team.url}{API}{route}", json=definition(path),
                                   headers=bearer(team), timeout=30)
            assert answer.status_code == 400 and "root:" not in answer.text, (route, path)
    listed = requests.get(f"{team.url}{API}/datastores/files",
                          params={"name": "workspaceblobstore", "prefix": "../../etc"},
                          headers=bearer(team), timeout=30)
    assert listed.status_code == 400 and "'..' is not allowed" in listed.json()["message"]
    # A link inside a datastore's folder that leads out of it is not followed.
    folder = team.workspace_dir / "datastores" / "workspaceblobstore"
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink("/etc", folder / "etc-link")
    try:
        answer = requests.post(f"{team.url}{API}/datasets/files", json=definition("etc-link/passwd"),
                               headers=bearer(team), timeout=30)
        assert answer.status_code == 400 and "outside the datastore" in answer.json()["message"]
    finally:
        os.unlink(folder / "etc-link")
    # Locally, an upload's target path cannot climb out either.
    from runyard.errors import UserErrorException

    (tmp_path / "f.txt").write_text("data")
    with pytest.raises(UserErrorException, match="not allowed"):
        ws.get_default_datastore().upload_files([str(tmp_path / "f.txt")], target_path="../../x")
    assert not (ws.folder / "x").exists() and not (ws.folder.parent / "x").exists()


SPY = """
import json, os, urllib.request, mlflow
from runyard.core import Run
run = Run.get_context()
mlflow.log_metric("reached_mlflow", 1.0)  # the run's own token works while it runs
server = os.environ["RUNYARD_SERVER_URL"]
def status(path):
    request = urllib.request.Request(server + path, headers={
        "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code
os.makedirs("outputs", exist_ok=True)
json.dump({"env": dict(os.environ), "own_run": status("/api/runyard/v1/runs/" + run.id),
           "ui": status("/"), "own_name": run.get_status()}, open("outputs/seen.json", "w"))
"""
SECRETS_JOB = f"""
    import json
    from pathlib import Path
    from runyard.core import Experiment, ScriptRunConfig, Workspace

    ws = Workspace.from_config()
    Path("src").mkdir(exist_ok=True)
    Path("src/spy.py").write_text({SPY!r})
    run = Experiment(ws, "spy").submit(ScriptRunConfig(source_directory="src", script="spy.py"))
    run.wait_for_completion(show_output=True)
    run.download_file("outputs/seen.json", "seen.json")
    print("RESULT " + json.dumps({{"seen": json.load(open("seen.json")), "run": run.id,
                                  "metrics": run.get_metrics()}}))
"""


def test_jobs_see_no_server_secret_and_their_token_ends_with_the_run(team, tmp_path):
    got = result_of(checked(client(team, tmp_path / "spy", SECRETS_JOB)))
    seen = got["seen"]
    env = seen["env"]
    secrets_of_the_server = [team.token, team.pg.password, team.moto.secret]
    leaked = {k for k, v in env.items() if any(s in v for s in secrets_of_the_server)}
    assert not leaked, leaked
    assert not [k for k in env if k.startswith(("AWS_", "_MLFLOW_SERVER_")) or k in (
        "RUNYARD_SERVER_TOKEN", "RUNYARD_BACKEND_STORE_URI", "MLFLOW_S3_ENDPOINT_URL")]
    token = env["MLFLOW_TRACKING_TOKEN"]
    assert token.startswith(f"run.{got['run']}.") and env["RUNYARD_WORKSPACE_TOKEN"] == token
    assert got["metrics"]["reached_mlflow"] == 1.0
    assert seen["own_run"] == 200 and seen["own_name"] == "Running"
    assert seen["ui"] == 401  # the APIs only, not the UI
    # The run ended: its token opens nothing any more (after the guard's 2 s memory of it).
    for path in (f"{API}/runs/{got['run']}", "/api/2.0/mlflow/experiments/search?max_results=1"):
        wait_until(lambda path=path: requests.get(f"{team.url}{path}", timeout=30, headers={
            "Authorization": f"Bearer {token}"}).status_code == 401, 10, message=path)
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert requests.get(f"{team.url}{API}/experiments", headers={"Authorization": f"Bearer {forged}"},
                        timeout=30).status_code == 401
    # The server's files: workspace.json is its owner's alone and holds no password; the
    # password is not on the server's command line either.
    marker = team.workspace_dir / "workspace.json"
    assert marker.stat().st_mode & 0o777 == 0o600
    assert team.pg.password not in marker.read_text()
    assert "postgresql://runyard@" in marker.read_text()
    assert team.pg.password not in " ".join(psutil.Process(team.process.pid).cmdline())


WORKER_ENV = r"""
    import json
    from pathlib import Path
    from runyard.core import Environment, Model, Workspace
    from runyard.core.model import InferenceConfig
    from runyard.core.webservice import AciWebservice

    ws = Workspace.from_config()
    Path("m.txt").write_text("model")
    model = Model.register(ws, model_path="m.txt", model_name="spy-model")
    Path("src").mkdir(exist_ok=True)
    Path("src/score.py").write_text(
        "import json, os\ndef init():\n    pass\n"
        "def run(raw_data):\n    return {'env': dict(os.environ)}\n")
    env = Environment("spy-env")
    env.python.user_managed_dependencies = True
    service = Model.deploy(ws, "spy-svc", [model],
                           inference_config=InferenceConfig(entry_script="score.py", source_directory="src",
                                                            environment=env),
                           deployment_config=AciWebservice.deploy_configuration(auth_enabled=True))
    service.wait_for_deployment()
    print("RESULT " + json.dumps({"env": service.run("{}")["env"], "key": service.get_keys()[0],
                                  "uri": service.scoring_uri}))
"""


def test_scoring_workers_see_no_server_secret_and_read_no_body_without_a_key(team, tmp_path):
    got = result_of(checked(client(team, tmp_path / "worker", WORKER_ENV)))
    secrets_of_the_server = [team.token, team.pg.password, team.moto.secret]
    leaked = {k for k, v in got["env"].items() if any(s in v for s in secrets_of_the_server)}
    assert not leaked and "RUNYARD_BACKEND_STORE_URI" not in got["env"], leaked
    # The endpoint's own server, on the server's loopback: the key is checked from the
    # headers, and a body over its limit is refused from Content-Length.
    port = requests.get(f"{team.url}{API}/endpoints/one", params={"name": "spy-svc"},
                        headers=bearer(team), timeout=30).json()["port"]
    endpoint = next(p for p in psutil.process_iter(["cmdline"])
                    if p.info["cmdline"] and p.info["cmdline"][-1] == "spy-svc"
                    and "runyard.serving" in p.info["cmdline"])
    before = endpoint.memory_info().rss
    for _ in range(3):
        status, _ = send_headers_then_body(port, "/score", 200 << 20, {})
        assert status == 401
    status, _ = send_headers_then_body(port, "/score", 300 << 20, {"Authorization": f"Bearer {got['key']}"})
    assert status == 413
    assert endpoint.memory_info().rss - before < 100 << 20
    # Through the server's port with the key: scored, the body streamed through.
    answer = requests.post(got["uri"], data=b"{}", timeout=60, headers={"Authorization": f"Bearer {got['key']}"})
    assert answer.status_code == 200 and "env" in answer.json()


def test_snapshot_uploads_are_bounded_and_their_manifests_checked(team, tmp_path):
    import hashlib

    from runyard.runs import snapshot

    status, _ = send_headers_then_body(team.port, f"{API}/snapshots/{'a' * 64}", 600 << 20,
                                       {"Authorization": f"Bearer {team.token}"})
    assert status == 413
    before = server_rss(team)
    streamed = requests.put(f"{team.url}{API}/snapshots/{'a' * 64}", headers=bearer(team), timeout=60,
                            data=(b"0" * (1 << 20) for _ in range(SNAPSHOT_MAX_MB * 3)))
    assert streamed.status_code in (400, 413)
    assert server_rss(team) - before < 100 << 20

    def upload(entries: list[dict]) -> requests.Response:
        blob = b"print('hi')\n"
        digest = hashlib.sha256(blob).hexdigest()
        for e in entries:
            e.setdefault("sha256", digest)
            e.setdefault("size", len(blob))
        manifest = json.dumps({"files": entries}, sort_keys=True).encode()
        snapshot_id = hashlib.sha256(manifest).hexdigest()
        archive = tar_of(entry("manifest.json", data=manifest), entry(f"blobs/{digest}", data=blob))
        return requests.put(f"{team.url}{API}/snapshots/{snapshot_id}", data=archive,
                            headers=bearer(team), timeout=30)

    for bad in ([{"path": "../escape.py", "mode": 0o644}], [{"path": "/etc/x", "mode": 0o644}],
                [{"path": "a.py", "mode": "rwx"}], [{"path": "a.py", "mode": 0o644}, {"path": "a.py", "mode": 0o644}],
                [{"path": "a.py", "mode": 0o644}, {"path": "a.py/b.py", "mode": 0o644}],
                [{"path": "a.py", "mode": 0o644, "size": -1}]):
        answer = upload(bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert upload([{"path": "a.py", "mode": 0o6777}]).status_code == 200
    # Restored, such a file is neither setuid nor writable by others.
    store = team.workspace_dir / "snapshots"
    snapshot_id = next(p.stem for p in (store / "manifests").glob("*.json")
                       if '"mode": 3583' in p.read_text())
    snapshot.restore(store, snapshot_id, tmp_path / "restored")
    assert (tmp_path / "restored" / "a.py").stat().st_mode & 0o7777 == 0o755


def test_database_down_answers_503_in_one_line(tmp_path):
    """runyard's routes answer as MLflow's do when PostgreSQL stops (not a bare 500), and
    the CLI says in one line that it cannot reach it."""
    from data_servers import Postgres

    pg = Postgres(password="s3cret-of-the-db")
    stopped = []
    port = free_port()
    (tmp_path / "db-url").write_text(pg.url() + "\n")  # the database URL from a file
    with open(tmp_path / "server.log", "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "runyard.cli", "server", "--workspace-dir",
                                   str(tmp_path / "ws"), "--port", str(port), "--backend-store-uri-file",
                                   str(tmp_path / "db-url")], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}"), 90, message="the server to start")
        assert requests.get(f"http://127.0.0.1:{port}{API}/runs", timeout=30).ok
        pg.stop()
        stopped.append(pg)
        answer = requests.get(f"http://127.0.0.1:{port}{API}/runs", timeout=60)
        assert answer.status_code == 503
        assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        (tmp_path / "c").mkdir()
        (tmp_path / "c" / "config.json").write_text(json.dumps(
            {"workspace_name": "ws", "location": str(tmp_path / "ws")}))
        listed = runyard_cli("runs", "list", cwd=tmp_path / "c",
                             env_extra={"RUNYARD_BACKEND_STORE_URI": pg.url()})
        assert listed.returncode == 2 and "Traceback" not in listed.stderr
        assert len(listed.stderr.strip().splitlines()) == 1 and "Cannot reach" in listed.stderr
        assert pg.password not in listed.stderr  # shown as ***
        assert pg.password not in (tmp_path / "ws" / "workspace.json").read_text()
    finally:
        server.terminate()
        server.wait(20)
        if not stopped:
            pg.stop()
