"""Team mode: metric ingest from 4 concurrent clients, `runyard server` against MLflow's own
tracking server, both on one PostgreSQL (a database each, same cluster), in one run.

Each client process logs N points of its own metric into one shared run; all four start
together (after their imports and connections) and the clock stops when the last one has
flushed. runyard's clients call run.log() per point (buffered, sent in batches); MLflow's
clients use MlflowClient.log_batch (1,000 points per request, its fastest client path) and,
as a second peer, mlflow.log_metric(..., synchronous=False) (its buffered path; far slower, so
it logs --async-points per client). Every point is then counted in PostgreSQL.

    .venv/bin/python bench/bench_server_ingest.py --points 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _common import isolated_home, median, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from data_servers import Postgres, free_port  # noqa: E402

CLIENTS = 4

RUNYARD_CLIENT = """
    import sys
    from runyard.core import Run, Workspace
    run = Run.get(Workspace.from_config(), sys.argv[1])
    name, count = sys.argv[2], int(sys.argv[3])
    run.get_status()  # connected
    print("ready", flush=True)
    sys.stdin.readline()
    for step in range(count):
        run.log(name, step * 0.5)
    run.flush()
"""

MLFLOW_BATCH_CLIENT = """
    import sys, time
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient
    client = MlflowClient(sys.argv[4])
    client.get_run(sys.argv[1])
    name, count = sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    now = int(time.time() * 1000)
    for start in range(0, count, 1000):
        client.log_batch(sys.argv[1], metrics=[Metric(name, step * 0.5, now, step)
                                              for step in range(start, min(count, start + 1000))])
"""

MLFLOW_ASYNC_CLIENT = """
    import sys
    import mlflow
    mlflow.set_tracking_uri(sys.argv[4])
    run = mlflow.start_run(run_id=sys.argv[1])
    name, count = sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    for step in range(count):
        mlflow.log_metric(name, step * 0.5, step=step, synchronous=False)
    mlflow.flush_async_logging()
"""


def wait_http(url: str, headers: dict | None = None, timeout: float = 120) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, headers=headers, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def race(code: str, client_args: list[list[str]], env: dict, cwd: Path) -> float:
    """Start the clients, wait until each is ready, release them together; seconds until the
    last one is done."""
    script = cwd / f"client-{abs(hash(code))}.py"
    script.write_text(textwrap.dedent(code))
    procs = [subprocess.Popen([sys.executable, str(script), *args], cwd=cwd, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for args in client_args]
    for proc in procs:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a client failed to start")
    start = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        if proc.wait(600) != 0:
            raise RuntimeError("a client failed")
    return time.perf_counter() - start


def stored(url: str, run_uuid: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select key, count(*) from metrics where run_uuid = :r "
                                    "group by key"), {"r": run_uuid}).all()
    engine.dispose()
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=20_000, help="points per client")
    parser.add_argument("--async-points", type=int, default=2_000,
                        help="points per client for mlflow's async path (about 120 points/s)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = isolated_home()
    pg = Postgres()
    procs, cancel = [], None
    try:
        token = secrets.token_urlsafe(24)
        runyard_port, mlflow_port = free_port(), free_port()
        env = dict(os.environ, RUNYARD_SERVER_TOKEN=token, MLFLOW_DISABLE_TELEMETRY="true")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "runyard.cli", "server", "--workspace-dir", str(root / "ws"),
             "--port", str(runyard_port), "--backend-store-uri", pg.url()],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        mlflow_db = pg.create_database("mlflow")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", mlflow_db,
             "--artifacts-destination", (root / "mlflow-artifacts").as_uri(),
             "--host", "127.0.0.1", "--port", str(mlflow_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        runyard_url, mlflow_url = f"http://127.0.0.1:{runyard_port}", f"http://127.0.0.1:{mlflow_port}"
        wait_http(f"{runyard_url}/health")
        wait_http(f"{mlflow_url}/health")

        client_dir = root / "client"
        (client_dir / ".runyard").mkdir(parents=True)
        (client_dir / ".runyard" / "config.json").write_text(json.dumps(
            {"workspace_name": "bench", "server_url": runyard_url}))
        client_env = dict(os.environ, RUNYARD_WORKSPACE_TOKEN=token,
                          MLFLOW_DISABLE_TELEMETRY="true")
        (client_dir / "src").mkdir()
        (client_dir / "src" / "wait.py").write_text("import time\ntime.sleep(3600)\n")
        submit = subprocess.run([sys.executable, "-c", textwrap.dedent("""
            from runyard.core import Experiment, ScriptRunConfig, Workspace
            run = Experiment(Workspace.from_config(), "ingest").submit(
                ScriptRunConfig(source_directory="src", script="wait.py"))
            print(run.id, run.get_details()["properties"]["mlflow.runId"])
        """)], cwd=client_dir, env=client_env, capture_output=True, text=True, check=True)
        run_id, runyard_mlflow_run = submit.stdout.split()
        cancel = [sys.executable, "-c", "from runyard.core import Run, Workspace\n"
                  f"run = Run.get(Workspace.from_config(), {run_id!r})\n"
                  "run.cancel()\nrun.wait_for_completion(raise_on_error=False)"]

        from mlflow.tracking import MlflowClient

        mlflow_client = MlflowClient(mlflow_url)
        experiment = mlflow_client.create_experiment("ingest")
        n = args.points
        timings: dict[str, list[float]] = {"runyard": [], "mlflow log_batch": [], "mlflow async": []}
        for round_ in range(args.repeat):
            clients = range(CLIENTS)
            timings["runyard"].append(race(
                RUNYARD_CLIENT, [[run_id, f"r{round_}/c{i}", str(n)] for i in clients],
                client_env, client_dir))
            batch_run = mlflow_client.create_run(experiment).info.run_id
            timings["mlflow log_batch"].append(race(
                MLFLOW_BATCH_CLIENT, [[batch_run, f"c{i}", str(n), mlflow_url] for i in clients],
                client_env, client_dir))
            async_run = mlflow_client.create_run(experiment).info.run_id
            timings["mlflow async"].append(race(
                MLFLOW_ASYNC_CLIENT,
                [[async_run, f"c{i}", str(args.async_points), mlflow_url] for i in clients],
                client_env, client_dir))
            for url, run_uuid, names, count in (
                    (pg.url(), runyard_mlflow_run, [f"r{round_}/c{i}" for i in clients], n),
                    (mlflow_db, batch_run, [f"c{i}" for i in clients], n),
                    (mlflow_db, async_run, [f"c{i}" for i in clients], args.async_points)):
                counts = stored(url, run_uuid)
                assert all(counts.get(name) == count for name in names), (url, counts)
            print(f"round {round_ + 1}: " + ", ".join(
                f"{k} {v[-1]:.2f} s" for k, v in timings.items()), flush=True)

        totals = {k: CLIENTS * (args.async_points if k == "mlflow async" else n) for k in timings}
        rate = {k: totals[k] / median(v) for k, v in timings.items()}
        rows = [(k, f"{rate[k]:,.0f} points/s (median {median(v):.2f} s for {totals[k]:,} points)")
                for k, v in timings.items()]
        rows += [("runyard / mlflow log_batch", f"{rate['runyard'] / rate['mlflow log_batch']:.2f}x"),
                 ("runyard / mlflow async", f"{rate['runyard'] / rate['mlflow async']:.2f}x")]
        report(f"Metric ingest, {CLIENTS} concurrent clients x {n:,} points, one PostgreSQL", rows)
    finally:
        if cancel:  # stop the run that held the points (its supervisor outlives the server)
            subprocess.run(cancel, cwd=client_dir, env=client_env, check=False, timeout=120)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        pg.stop()


if __name__ == "__main__":
    main()
