"""Faults and attacks against the runyard this interpreter imports, measured: what happened,
how long it took, what was lost, what was left running. Run it with two checkouts' virtual
environments to compare them:

    .venv/bin/python bench/bench_attacks.py                 # this checkout
    /path/to/old/.venv/bin/python bench/bench_attacks.py    # another one, same machine
    .venv/bin/python bench/bench_attacks.py slow_clients    # some cases only

Needs root (the full-disk cases mount a 20 MB tmpfs) and OpenMPI. Every case runs in its own
temporary RUNYARD_HOME; each prints one line. docs/reliability.md has the results.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import requests

PY = sys.executable
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def env_for(home: Path) -> dict:
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "RUNYARD_HOME": str(home / "home"), "RUNYARD_CACHE": str(home / "cache"),
            "TMPDIR": str(tmp), "KERAS_HOME": str(home / "keras"), "RUNYARD_HEARTBEAT_TIMEOUT": "30"}


def cli(env, *args, cwd=None, timeout=300):
    return subprocess.run([PY, "-m", "runyard.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def python(env, code: str, cwd=None, timeout=600) -> dict:
    """Run `code` with this runyard; it prints one JSON line last."""
    done = subprocess.run([PY, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "Exception" in line]
        return {"crashed": (errors or ["?"])[-1].strip()[:160]}
    return json.loads(lines[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(root: Path, env: dict, limit_fds: int | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()

    def limited():
        if limit_fds:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit_fds, limit_fds))

    log = open(root / "server.log", "wb")
    server = subprocess.Popen([PY, "-m", "runyard.cli", "server", "--workspace-dir", str(root / "ws"),
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              preexec_fn=limited)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                return server, url
        except requests.RequestException:
            time.sleep(0.5)
    raise RuntimeError("the server did not start")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- the cases -----------------------------------------------------------------------------------
@case
def concurrent_first_submits(root: Path) -> str:
    env = env_for(root)
    (root / "quick.py").write_text("print('quick')\n")
    procs = [subprocess.Popen([PY, "-m", "runyard.cli", "run", "--detach", "quick.py"], env=env,
                              cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(12)]
    results = [(p, p.communicate(timeout=600)) for p in procs]
    failed = [err for p, (_, err) in results if p.returncode != 0]
    errors = [line for line in (failed[0] if failed else "").splitlines() if "Error" in line]
    reason = errors[-1].strip()[:120] if errors else ""
    python(env, """
        from runyard.core import Workspace
        ws = Workspace.from_config()
        for record in ws._registry.list_runs():
            Run = __import__("runyard.core", fromlist=["Run"]).Run
            Run.get(ws, record["run_id"]).wait_for_completion(raise_on_error=False)
        print("{}")
    """)
    return f"{len(failed)} of 12 failed{': ' + reason if reason else ''}"


@case
def unauthenticated_bodies(root: Path) -> str:
    env = {**env_for(root), "RUNYARD_SERVER_TOKEN": "t" * 32}
    (root / "w.txt").write_text("1")
    (root / "srv").mkdir()
    (root / "srv" / "score.py").write_text("def init():\n    pass\ndef run(raw):\n    return 1\n")
    server, url = start_server(root, env)
    try:
        # A keyed endpoint in the served workspace (made beside the server, on its folder).
        python(env, f"""
            from runyard.core import Environment, Model, Workspace
            from runyard.core.model import InferenceConfig
            from runyard.core.webservice import AciWebservice
            ws = Workspace(workspace_name="ws", location={str(root / 'ws')!r})
            model = Model.register(ws, model_path={str(root / 'w.txt')!r}, model_name="w")
            env = Environment("plain")
            env.python.user_managed_dependencies = True
            Model.deploy(ws, "svc", [model], inference_config=InferenceConfig(
                entry_script="score.py", source_directory={str(root / 'srv')!r}, environment=env),
                deployment_config=AciWebservice.deploy_configuration(auth_enabled=True)).wait_for_deployment()
            print("{{}}")
        """)
        process = psutil.Process(server.pid)
        before = process.memory_info().rss
        port = int(url.rsplit(":", 1)[1])
        peak, sending = [before], [True]

        def sample() -> None:  # the largest RSS while the bodies are sent
            while sending:
                peak.append(process.memory_info().rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            sock.sendall(f"POST /endpoints/svc/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {300 << 20}\r\n\r\n".encode())
            try:
                chunk = b"0" * (1 << 20)
                for _ in range(300):
                    sock.sendall(chunk)
                sock.recv(1024)  # the answer: the server read it all (or closed early)
            except OSError:
                pass
            sock.close()
        time.sleep(1)
        sending.clear()
        sampler.join()
        peak = max(peak)
        return (f"server RSS {before / 2**20:.0f} MB, {peak / 2**20:.0f} MB at most during three "
                "300 MB POSTs to a keyed endpoint without its key")
    finally:
        python(env, f"""
            from runyard.core import Workspace
            from runyard.core.webservice import Webservice
            Webservice(Workspace(workspace_name="ws", location={str(root / 'ws')!r}), "svc").delete()
            print("{{}}")
        """)
        stop(server)


@case
def slow_clients(root: Path) -> str:
    env = {**env_for(root), "RUNYARD_HTTP_HEADER_TIMEOUT": "5"}
    server, url = start_server(root, env, limit_fds=1024)
    log = root / "server.log"
    try:
        size = log.stat().st_size
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for _ in range(1100):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                slow.append(sock)
            except OSError:
                continue
        started = time.monotonic()
        answered = None
        while time.monotonic() - started < 70:
            try:
                if requests.get(f"{url}/health", timeout=3).ok:
                    answered = time.monotonic() - started
                    break
            except requests.RequestException:
                pass
        for sock in slow:
            sock.close()
        grown = log.stat().st_size - size
        shown = f"a real request answered after {answered:.1f} s" if answered is not None \
            else "no real request answered in 70 s"
        return f"{len(slow)} slow connections held; {shown}; log +{grown / 1024:.0f} KB"
    finally:
        stop(server)


FULL_DISK = {
    "30 MB of stdout": "import sys\nfor i in range(30 * 1024):\n    sys.stdout.write('x' * 1023 + '\\n')\n",
    "12 MB of outputs": "import os\nos.makedirs('outputs', exist_ok=True)\n"
                        "open('outputs/big.bin', 'wb').write(os.urandom(12 * 1024 * 1024))\n",
    "390,000 metric points": "from runyard.core import Run\nrun = Run.get_context()\n"
                             "for i in range(390000):\n    run.log('loss', i * 0.001)\n",
}


@case
def full_disk(root: Path) -> str:
    rows = []
    for label, body in FULL_DISK.items():
        disk = Path(tempfile.mkdtemp(dir=root))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)], check=True)
        try:
            env = {**env_for(root), "RUNYARD_HOME": str(disk / "home")}
            (root / "fill.py").write_text(body)
            got = python(env, f"""
                import json, time
                from runyard.core import Experiment, ScriptRunConfig, Workspace
                ws = Workspace.from_config()
                run = Experiment(ws, "disk").submit(ScriptRunConfig({str(root)!r}, script="fill.py"))
                deadline = time.time() + 90
                while time.time() < deadline and run.get_status() not in ("Completed", "Failed", "Canceled"):
                    time.sleep(0.5)
                record = ws._registry.get_run(run.id)  # (runyard.db only: MLflow may not open)
                error = record.get("error") or {{}}
                try:
                    big = [f for f in run.get_file_names() if f.startswith("outputs/")]
                    metrics = run.get_metrics().get("loss") or []
                    points = len(metrics) if isinstance(metrics, list) else 1
                except Exception as exc:
                    big, points = "?", f"unreadable ({{type(exc).__name__}})"
                print(json.dumps({{"status": record["status"].value, "code": error.get("code"),
                                  "message": (error.get("message") or "")[:70],
                                  "published": big, "points": points}}))
            """, timeout=300)
            if "crashed" in got:
                rows.append(f"{label}: the client crashed ({got['crashed']})")
            else:
                rows.append(f"{label}: {got['status']} {got['code'] or ''} ({got['message']}...) "
                            f"published {got['published'] or 'nothing'}, {got['points']} points kept")
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)
    return " | ".join(rows)


@case
def mpi_rank_children(root: Path) -> str:
    env = env_for(root)
    (root / "ranks.py").write_text(textwrap.dedent("""
        import os, subprocess, sys, time
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
        child = subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(300)"])
        open(f"pid-{rank}", "w").write(str(child.pid))
        if rank == 1:
            time.sleep(1)
            os.kill(os.getpid(), 9)
    """))
    got = python(env, f"""
        import json, time
        from runyard.core import Experiment, ScriptRunConfig, Workspace
        from runyard.core.runconfig import MpiConfiguration
        ws = Workspace.from_config()
        run = Experiment(ws, "mpi").submit(ScriptRunConfig({str(root)!r}, script="ranks.py",
            distributed_job_config=MpiConfiguration(process_count_per_node=2)))
        started = time.time()
        details = run.wait_for_completion(raise_on_error=False)
        print(json.dumps({{"status": details["status"], "seconds": time.time() - started}}))
    """)
    # The ranks wrote their pid files in the run's working copy, removed at the end: find
    # their children by what they run instead.
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if p.info["cmdline"] and p.info["cmdline"][-1] == "import time; time.sleep(300)"]
    for proc in leftovers:
        proc.kill()
    return f"{got.get('status')} in {got.get('seconds', 0):.1f} s; {len(leftovers)} rank child(ren) left running"


@case
def killed_supervisor(root: Path) -> str:
    env = env_for(root)
    (root / "ticks.py").write_text(textwrap.dedent("""
        import subprocess, sys, time
        from runyard.core import Run
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(301)"])
        run = Run.get_context()
        i = 0
        while True:
            run.log("tick", i)
            i += 1
            time.sleep(0.001)
    """))
    got = python(env, f"""
        import json, os, signal, time
        from runyard.core import Experiment, ScriptRunConfig, Workspace
        ws = Workspace.from_config()
        run = Experiment(ws, "killed").submit(ScriptRunConfig({str(root)!r}, script="ticks.py"))
        while len(run.get_metrics().get("tick") or []) < 1000:
            time.sleep(0.2)
        os.kill(run._refresh()["supervisor_pid"], signal.SIGKILL)
        time.sleep(5)
        import psutil
        children = [p for p in psutil.process_iter(["cmdline"])
                    if p.info["cmdline"] and p.info["cmdline"][-1] == "import time; time.sleep(301)"]
        alive_after_5s = len(children)
        status_after_5s = ws._registry.get_run(run.id)["status"].value  # no reader's check
        deadline = time.time() + 120
        while time.time() < deadline and run.get_status() not in ("Failed", "Canceled", "Completed"):
            time.sleep(1)
        written = sum(p.read_bytes().count(b"\\n") for p in run._paths.metrics_dir.glob("*.jsonl"))
        stored = len(run.get_metrics().get("tick") or [])
        logs = "user_logs/std_log.txt" in run.get_file_names()
        for p in children:
            p.kill()
        print(json.dumps({{"alive": alive_after_5s, "status5": status_after_5s,
                          "status": run.get_status(), "written": written, "stored": stored, "logs": logs}}))
    """)
    if "crashed" in got:
        return f"the check crashed: {got['crashed']}"
    return (f"5 s after: {got['alive']} child(ren) alive, status {got['status5']}; then "
            f"{got['status']}, {got['written'] - got['stored']} of {got['written']} points lost, "
            f"logs {'uploaded' if got['logs'] else 'not uploaded'}")


@case
def cancel_while_preparing(root: Path) -> str:
    env = env_for(root)
    package = root / "slowpkg"
    package.mkdir()
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '[project]\nname = "slowpkg"\nversion = "1.0"\n')
    (package / "backend.py").write_text(
        "import time\ndef get_requires_for_build_wheel(config_settings=None):\n    return []\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n    time.sleep(200)\n"
        "def build_wheel(d, config_settings=None, metadata_directory=None):\n    time.sleep(200)\n")
    (root / "t.py").write_text("print('never')\n")
    got = python(env, f"""
        import json, sys, time
        from runyard.core import Environment, Experiment, ScriptRunConfig, Workspace
        from runyard.core.conda_dependencies import CondaDependencies
        ws = Workspace.from_config()
        env = Environment("slow")
        env.python.conda_dependencies = CondaDependencies.create(
            pip_packages=["slowpkg @ {package.as_uri()}"],
            python_version=f"{{sys.version_info[0]}}.{{sys.version_info[1]}}")
        run = Experiment(ws, "slow").submit(ScriptRunConfig({str(root)!r}, script="t.py", environment=env))
        while run.get_status() != "Preparing":
            time.sleep(0.2)
        time.sleep(10)
        run.cancel()
        asked = time.time()
        while run.get_status() not in ("Canceled", "Failed", "Completed") and time.time() - asked < 260:
            time.sleep(0.5)
        print(json.dumps({{"status": run.get_status(), "seconds": time.time() - asked}}))
    """, timeout=400)
    return f"{got.get('status')} {got.get('seconds', 0):.1f} s after cancel()"


@case
def killed_endpoint(root: Path) -> str:
    env = env_for(root)
    (root / "w.txt").write_text("2")
    (root / "srv").mkdir()
    (root / "srv" / "score.py").write_text(
        "import json\ndef init():\n    pass\ndef run(raw):\n    return [2 * x for x in json.loads(raw)['data']]\n")
    got = python(env, f"""
        import json, time, psutil, requests
        from runyard.core import Environment, Model, Workspace
        from runyard.core.model import InferenceConfig
        from runyard.core.webservice import LocalWebservice
        ws = Workspace.from_config()
        model = Model.register(ws, model_path={str(root / 'w.txt')!r}, model_name="w")
        env = Environment("plain")
        env.python.user_managed_dependencies = True
        svc = Model.deploy(ws, "svc", [model], inference_config=InferenceConfig(
            entry_script="score.py", source_directory={str(root / 'srv')!r}, environment=env),
            deployment_config=LocalWebservice.deploy_configuration())
        svc.wait_for_deployment()
        uri = svc.scoring_uri
        pid = svc._refresh()["pid"]
        procs = [psutil.Process(pid)] + psutil.Process(pid).children()
        server = [p for p in procs if "runyard.serving" in p.cmdline()][0]
        server.kill()
        back, started = None, time.time()
        while time.time() - started < 60 and back is None:
            try:
                if requests.post(uri, json={{"data": [1]}}, timeout=2).ok:
                    back = time.time() - started
            except requests.RequestException:
                time.sleep(0.5)
        same = svc.scoring_uri == uri
        svc.delete()
        print(json.dumps({{"back": back, "same_uri": same}}))
    """)
    if got.get("back") is None:
        return "not back within 60 s (until `runyard endpoint restart`)"
    return f"back by itself after {got['back']:.1f} s, {'same' if got['same_uri'] else 'new'} scoring URI"


def main(only: list[str]) -> None:
    import runyard

    print(f"runyard {runyard.__version__} from {Path(runyard.__file__).parent}")
    for fn in [fn for fn in CASES if not only or fn.__name__ in only]:
        with tempfile.TemporaryDirectory(prefix=f"attack-{fn.__name__}-", dir="/var/tmp",
                                         ignore_cleanup_errors=True) as folder:
            try:
                result = fn(Path(folder))
            except Exception as exc:  # noqa: BLE001  a case that breaks is a result too
                result = f"the case failed: {type(exc).__name__}: {exc}"
        print(f"{fn.__name__:26} {result}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])  # case names to run only those
