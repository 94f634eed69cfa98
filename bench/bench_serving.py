"""Serving: the demo digit classifier (784 -> 128 -> 128 -> 10, Keras) served by a runyard
no-code endpoint, side by side in one run with `mlflow models serve` of the same model logged
as an MLflow TensorFlow model (its default: one uvicorn worker, --env-manager local).

Measured from the same load generator (threads, one keep-alive connection each, one digit
image per request): throughput and p50/p99 latency at concurrency 1 and 16, and cold start
(deploy call to first successful prediction). Servers run one at a time, alternating.

    .venv/bin/python bench/bench_serving.py [--seconds 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import isolated_home, median, report

BUILD = """
import sys
import numpy as np
import tensorflow as tf
import mlflow
from sklearn.datasets import load_digits

out = sys.argv[1]
digits = load_digits()
x = np.zeros((len(digits.images), 28, 28), dtype="float32")
x[:, 2:26, 2:26] = np.kron(digits.images, np.ones((3, 3))) / 16.0
x = x.reshape(-1, 784)
model = tf.keras.Sequential([
    tf.keras.Input(shape=(784,), name="pixels"),
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dense(128, activation="relu"),
    tf.keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, digits.target, epochs=2, verbose=0)
model.export(f"{out}/savedmodel")
np.save(f"{out}/images.npy", x[:64])
mlflow.set_tracking_uri(f"sqlite:///{out}/mlflow.db")
with mlflow.start_run():
    info = mlflow.tensorflow.log_model(model, name="model", input_example=x[:1])
print(info.model_uri)
"""


def build_models(root: Path) -> str:
    out = root / "models"
    out.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", BUILD, str(out)], capture_output=True, text=True,
                   env=env, check=True, cwd=str(out))
    # Serve the logged model from its folder: no tracking-server lookup in the timings.
    return str(next(out.glob("mlruns/**/MLmodel")).parent)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Target:
    """One server under test: start(), predict path, stop()."""

    def __init__(self, label: str, port: int, path: str):
        self.label, self.port, self.path = label, port, path

    def post(self, conn: http.client.HTTPConnection, body: bytes) -> int:
        conn.request("POST", self.path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status


def wait_first_prediction(target: Target, body: bytes, started: float, timeout: float = 300) -> float:
    while time.perf_counter() - started < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
            if target.post(conn, body) == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{target.label} did not answer within {timeout} s")


def start_runyard(ws, model) -> tuple[Target, object, float, bytes]:
    from runyard.core.webservice import LocalWebservice

    body = request_body()
    port = free_port()
    started = time.perf_counter()
    service = type(model).deploy(ws, "bench-digits", [model], overwrite=True,
                                 deployment_config=LocalWebservice.deploy_configuration(port=port))
    target = Target("runyard", port, "/v1/models/digits:predict")
    cold = wait_first_prediction(target, body, started)
    return target, service, cold, body


def start_mlflow(model_path: str, root: Path) -> tuple[Target, subprocess.Popen, float, bytes]:
    body = request_body()
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow starts `uvicorn` from PATH
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    mlflow = str(Path(bin_dir) / "mlflow")
    started = time.perf_counter()
    proc = subprocess.Popen([mlflow, "models", "serve", "-m", model_path, "--env-manager", "local",
                             "--host", "127.0.0.1", "-p", str(port)], env=env, cwd=str(root),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    target = Target("mlflow", port, "/invocations")
    cold = wait_first_prediction(target, body, started)
    return target, proc, cold, body


_images = None


def request_body(index: int = 0) -> bytes:
    return json.dumps({"instances": _images[index % len(_images): index % len(_images) + 1]}).encode()


def load(target: Target, concurrency: int, seconds: float) -> dict:
    """Closed-loop load: each thread sends its next request when the last one is answered."""
    bodies = [request_body(i) for i in range(64)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
        i = slot
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            if target.post(conn, bodies[i % 64]) != 200:
                errors[slot] += 1
            latencies[slot].append(time.perf_counter() - began)
            i += concurrency

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for slot in latencies for x in slot)
    return {"rps": len(every) / elapsed, "p50": every[len(every) // 2] * 1000,
            "p99": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000, "errors": sum(errors)}


def measure(target: Target, seconds: float) -> dict:
    load(target, 4, 2.0)  # warm-up: first calls trace and allocate
    return {c: load(target, c, seconds) for c in (1, 16)}


def main() -> None:
    global _images
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    root = isolated_home()
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    model_path = build_models(root)
    import numpy as np

    _images = np.load(root / "models" / "images.npy").tolist()

    from runyard.core import Model, Workspace

    ws = Workspace.from_config()
    model = Model.register(ws, str(root / "models" / "savedmodel"), "digits",
                           model_framework=Model.Framework.TENSORFLOW)
    results: dict[str, list] = {"runyard": [], "mlflow": []}
    colds: dict[str, list[float]] = {"runyard": [], "mlflow": []}
    for _ in range(args.repeat):
        target, service, cold, _ = start_runyard(ws, model)
        colds["runyard"].append(cold)
        results["runyard"].append(measure(target, args.seconds))
        service.delete()
        target, proc, cold, _ = start_mlflow(model_path, root)
        colds["mlflow"].append(cold)
        results["mlflow"].append(measure(target, args.seconds))
        os.killpg(proc.pid, 15)
        proc.wait(30)

    def med(server: str, c: int, key: str) -> float:
        return median([r[c][key] for r in results[server]])

    rows = []
    for c in (1, 16):
        for server in ("runyard", "mlflow"):
            errors = sum(r[c]["errors"] for r in results[server])
            rows.append((f"{server} concurrency {c}",
                         f"{med(server, c, 'rps'):8.0f} req/s   p50 {med(server, c, 'p50'):7.2f} ms   "
                         f"p99 {med(server, c, 'p99'):7.2f} ms   errors {errors}"))
        rows.append((f"ratio concurrency {c}",
                     f"throughput x{med('runyard', c, 'rps') / med('mlflow', c, 'rps'):.2f}   "
                     f"p50 x{med('mlflow', c, 'p50') / med('runyard', c, 'p50'):.2f} (mlflow / runyard)"))
    rows.append(("cold start runyard", f"{median(colds['runyard']):.2f} s  (runs: "
                 + ", ".join(f"{c:.2f}" for c in colds["runyard"]) + ")"))
    rows.append(("cold start mlflow", f"{median(colds['mlflow']):.2f} s  (runs: "
                 + ", ".join(f"{c:.2f}" for c in colds["mlflow"]) + ")"))
    rows.append(("cold start ratio", f"x{median(colds['mlflow']) / median(colds['runyard']):.2f} (mlflow / runyard)"))
    report(f"Serving the demo digit model ({args.seconds:.0f} s per level, {args.repeat} rounds, medians)", rows)


if __name__ == "__main__":
    main()
