"""Whole-run overhead: a CPU-bound script through runyard vs bare `python script.py`,
measured pairwise (alternating) in one run. Also: a script that logs 100,000 points through
run.log vs the same script with logging off, both through runyard, with every point checked;
the same CPU-bound script with the supervisor's system-metric sampling on and off (the script's
own time); and, on a machine with an NVIDIA GPU, a TensorFlow GPU script through runyard vs bare.

    .venv/bin/python bench/bench_run_overhead.py [--seconds 20] [--pairs 3] [--only sampling|gpu]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import isolated_home, median, report, source_folder

CPU_BOUND = """
import sys, time
from runyard.core import Run
started = time.perf_counter()
n_points = int(sys.argv[1]); work = float(sys.argv[2]); log = sys.argv[3] == "on"
run = Run.get_context()
x = 0.0
per_point = max(1, int(work * 1_500_000 / max(n_points, 1)))
for i in range(max(n_points, 1)):
    for j in range(per_point):
        x += j * 0.5
    if log and n_points:
        run.log("value", x % 1000)
print("done", x)
print("took %.4f" % (time.perf_counter() - started))
"""

GPU_BOUND = """
import sys, time
import tensorflow as tf
started = time.perf_counter()
with tf.device("/GPU:0"):
    a = tf.random.normal((4096, 4096))
    for _ in range(int(sys.argv[1])):
        a = tf.linalg.matmul(a, a) / 4096.0
    float(tf.reduce_sum(a))
print("took %.4f" % (time.perf_counter() - started))
"""


def calibrate(seconds: float) -> float:
    """The `work` argument that makes the script run about `seconds` bare."""
    probe = 10.0
    took = bare(probe, 0)
    return probe * seconds / took


def bare(work: float, n_points: int, log: str = "off") -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "cpu.py", str(n_points), str(work), log], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "RUNYARD_RUN_ID": ""})
    return time.perf_counter() - start


def through_runyard(ws, src: Path, work: float, n_points: int, log: str) -> tuple[float, object]:
    from runyard.core import Experiment, ScriptRunConfig

    start = time.perf_counter()
    run = Experiment(ws, "overhead").submit(ScriptRunConfig(
        str(src), script="cpu.py", arguments=[n_points, work, log]))
    run.wait_for_completion()
    return time.perf_counter() - start, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--only", choices=["sampling", "gpu"], default=None)
    args = parser.parse_args()
    src = source_folder(isolated_home(), "cpu.py", CPU_BOUND)
    (src / "gpu.py").write_text(GPU_BOUND)
    os.chdir(src)
    from runyard.core import Workspace

    ws = Workspace.from_config()
    work = calibrate(args.seconds)
    through_runyard(ws, src, 0.01, 0, "off")  # warm-up: MLflow database and imports
    if args.only != "gpu":
        sampling(ws, src, work, args)
    if args.only != "sampling":
        gpu(ws, src, args)
    if args.only:
        return

    ratios, bare_times, ours = [], [], []
    for index in range(args.pairs):
        # Alternate which one goes first: this machine's speed drifts between runs.
        if index % 2:
            r, _run = through_runyard(ws, src, work, 0, "off")
            b = bare(work, 0)
        else:
            b = bare(work, 0)
            r, _run = through_runyard(ws, src, work, 0, "off")
        bare_times.append(b)
        ours.append(r)
        ratios.append(r / b)
    report(f"whole-run overhead, {args.seconds:.0f} s CPU-bound script ({args.pairs} pairs)", [
        ("bare python, median", f"{median(bare_times):.2f} s"),
        ("through runyard (submit -> Completed), median", f"{median(ours):.2f} s"),
        ("ratio runyard / bare, median of pairs", f"{median(ratios):.3f} (target <= 1.05)"),
    ])

    off_times, on_times, log_ratios, stored = [], [], [], []
    for index in range(args.pairs):
        if index % 2:
            on, run = through_runyard(ws, src, work, args.points, "on")
            off, _ = through_runyard(ws, src, work, args.points, "off")
        else:
            off, _ = through_runyard(ws, src, work, args.points, "off")
            on, run = through_runyard(ws, src, work, args.points, "on")
        off_times.append(off)
        on_times.append(on)
        log_ratios.append(on / off)
        stored.append(len(run.get_metrics()["value"]))
    report(f"{args.points:,} points logged with run.log during the same script", [
        ("logging off, median", f"{median(off_times):.2f} s"),
        ("logging on, median", f"{median(on_times):.2f} s"),
        ("ratio on / off, median of pairs", f"{median(log_ratios):.3f} (target <= 1.10)"),
        ("points stored per run", f"{stored} (expected {args.points:,} each)"),
    ])


def script_seconds(run) -> float:
    """The script's own time, as it printed it."""
    line = [ln for ln in run._paths.std_log.read_text().splitlines() if ln.startswith("took ")][-1]
    return float(line.split()[1])


def sampling(ws, src: Path, work: float, args) -> None:
    """The CPU-bound script with the supervisor sampling every 5 s (the default) and not at all."""
    on_times, off_times, ratios = [], [], []
    for index in range(args.pairs):
        times = {}
        for setting in (("5", "0") if index % 2 == 0 else ("0", "5")):
            os.environ["RUNYARD_SYSTEM_METRICS_INTERVAL"] = setting  # the supervisor inherits it
            _, run = through_runyard(ws, src, work, 0, "off")
            times[setting] = script_seconds(run)
        os.environ.pop("RUNYARD_SYSTEM_METRICS_INTERVAL")
        on_times.append(times["5"])
        off_times.append(times["0"])
        ratios.append(times["5"] / times["0"])
    report(f"system-metric sampling, {args.seconds:.0f} s CPU-bound script ({args.pairs} pairs)", [
        ("sampling off, script's own time, median", f"{median(off_times):.2f} s"),
        ("sampling every 5 s, script's own time, median", f"{median(on_times):.2f} s"),
        ("ratio on / off, median of pairs", f"{median(ratios):.3f} (target <= 1.01)"),
    ])


def gpu(ws, src: Path, args) -> None:
    """A TensorFlow matmul loop on GPU 0 through runyard vs bare (only where there is a GPU)."""
    from runyard import gpus
    from runyard.core import Experiment, ScriptRunConfig

    if not gpus.available():
        print("GPU variant: no NVIDIA GPU on this machine (NVML finds none); skipped.")
        return
    steps = "400"
    ours, bare_times, ratios = [], [], []
    for _index in range(args.pairs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "gpu.py", steps], check=True, stdout=subprocess.DEVNULL)
        b = time.perf_counter() - start
        start = time.perf_counter()
        run = Experiment(ws, "overhead-gpu").submit(ScriptRunConfig(str(src), script="gpu.py", arguments=[steps]))
        run.wait_for_completion()
        r = time.perf_counter() - start
        bare_times.append(b)
        ours.append(r)
        ratios.append(r / b)
    report(f"whole-run overhead, TensorFlow on {gpus.available()[0].label} ({args.pairs} pairs)", [
        ("bare python, median", f"{median(bare_times):.2f} s"),
        ("through runyard (submit -> Completed), median", f"{median(ours):.2f} s"),
        ("ratio runyard / bare, median of pairs", f"{median(ratios):.3f} (target <= 1.05)"),
    ])


if __name__ == "__main__":
    main()
