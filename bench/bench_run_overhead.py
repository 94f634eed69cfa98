"""Whole-run overhead: a CPU-bound script through runyard vs bare `python script.py`,
measured pairwise (alternating) in one run. Also: a script that logs 100,000 points through
run.log vs the same script with logging off, both through runyard, with every point checked.

    .venv/bin/python bench/bench_run_overhead.py [--seconds 20] [--pairs 3]
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
    args = parser.parse_args()
    src = source_folder(isolated_home(), "cpu.py", CPU_BOUND)
    os.chdir(src)
    from runyard.core import Workspace

    ws = Workspace.from_config()
    work = calibrate(args.seconds)
    through_runyard(ws, src, 0.01, 0, "off")  # warm-up: MLflow database and imports

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


if __name__ == "__main__":
    main()
