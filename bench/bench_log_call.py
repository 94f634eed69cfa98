"""run.log on the training thread vs mlflow.log_metric (synchronous), per call.

    .venv/bin/python bench/bench_log_call.py
"""

from __future__ import annotations

import os
import time

from _common import isolated_home, median, report


def per_call(fn, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        samples.append((time.perf_counter_ns() - start) / 1000.0)
    return samples


def main() -> None:
    root = isolated_home()
    from runyard.runs.records import RecordWriter

    writer = RecordWriter(root / "metrics")
    runyard = per_call(lambda i: writer.scalar("loss", 0.5 + i * 1e-6), 100_000)

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    with mlflow.start_run():
        mlflow.log_metric("warmup", 0.0)
        ml = per_call(lambda i: mlflow.log_metric("loss", 0.5 + i * 1e-6, step=i), 300)
    report("run.log vs mlflow.log_metric (microseconds per call)", [
        ("runyard run.log median", f"{median(runyard):.2f} us (100,000 calls)"),
        ("runyard run.log p99", f"{sorted(runyard)[int(len(runyard) * 0.99)]:.2f} us"),
        ("mlflow.log_metric median", f"{median(ml):.0f} us (300 calls, SQLite store)"),
        ("ratio mlflow / runyard", f"{median(ml) / median(runyard):.0f}x"),
    ])


if __name__ == "__main__":
    main()
