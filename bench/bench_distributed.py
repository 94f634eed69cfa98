"""Distributed TensorFlow: a 2-worker MultiWorkerMirroredStrategy job launched by runyard vs
the same two processes launched by hand with hand-written TF_CONFIG (pairs, one run); and a
worker SIGKILLed mid-training: time until runyard has failed the run with no process left,
vs. how long the surviving worker takes to notice on its own (TensorFlow's peer detection).

    .venv/bin/python bench/bench_distributed.py [--pairs 2] [--peer-wait 120]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from _common import isolated_home, median, report

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed" / "tf_mwms.py"


def free_ports(n: int) -> list[int]:
    ports = []
    for _ in range(n):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


def by_hand(workdir: Path, args: list[str]) -> list[subprocess.Popen]:
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "RANK": str(index),
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                        "task": {"type": "worker", "index": index}})}
        env.pop("RUNYARD_RUN_ID", None)
        procs.append(subprocess.Popen([sys.executable, "tf_mwms.py", *args], cwd=workdir, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return procs


def through_runyard(ws, src: Path, args: list):
    from runyard.core import Experiment, ScriptRunConfig
    from runyard.core.runconfig import TensorflowConfiguration

    start = time.perf_counter()
    run = Experiment(ws, "bench-mwms").submit(ScriptRunConfig(
        str(src), script="tf_mwms.py", arguments=args,
        distributed_job_config=TensorflowConfiguration(worker_count=2, parameter_server_count=0)))
    details = run.wait_for_completion(raise_on_error=False)
    return time.perf_counter() - start, run, details


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--peer-wait", type=float, default=120.0)
    args = parser.parse_args()
    root = isolated_home()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    src = root / "src"
    src.mkdir()
    shutil.copy(EXAMPLE, src)
    from runyard.core import Workspace

    ws = Workspace.from_config()
    train = ["--epochs", "3"]
    ours, theirs, ratios = [], [], []
    for index in range(args.pairs):
        def hand():
            start = time.perf_counter()
            for proc in by_hand(src, train):
                proc.communicate()
            return time.perf_counter() - start

        if index % 2:
            r = through_runyard(ws, src, train)[0]
            h = hand()
        else:
            h = hand()
            r = through_runyard(ws, src, train)[0]
        ours.append(r)
        theirs.append(h)
        ratios.append(r / h)
    rows = [("by hand (2 processes, hand-written TF_CONFIG), median", f"{median(theirs):.1f} s"),
            ("runyard, submit -> Completed, median", f"{median(ours):.1f} s"),
            ("ratio runyard / by hand, median of pairs", f"{median(ratios):.3f} (target <= 1.10)")]

    # A worker SIGKILLed at the end of epoch 1 of 1000.
    kill = ["--epochs", "1000", "--fail-rank", "1", "--fail-at-epoch", "1"]
    _, run, details = through_runyard(ws, src, kill)
    died = float(re.search(r"dying on purpose at ([\d.]+)",
                           (run._paths.user_logs / "std_log_process_1.txt").read_text()).group(1))
    from datetime import datetime

    ended = datetime.fromisoformat(details["endTimeUtc"]).timestamp()
    rows.append(("runyard: kill -> run Failed, every process stopped", f"{ended - died:.2f} s (target < 5 s)"))

    procs = by_hand(src, kill)
    out, _ = procs[1].communicate()
    died = float(re.search(r"dying on purpose at ([\d.]+)", out).group(1))
    try:
        procs[0].wait(timeout=args.peer_wait)
        rows.append(("by hand: kill -> surviving worker exits (TensorFlow's own detection)",
                     f"{time.time() - died:.1f} s (exit code {procs[0].returncode})"))
    except subprocess.TimeoutExpired:
        procs[0].kill()
        rows.append(("by hand: kill -> surviving worker exits (TensorFlow's own detection)",
                     f"still waiting after {args.peer_wait:.0f} s (killed)"))
    report("distributed TensorFlow (2-worker MultiWorkerMirroredStrategy)", rows)


if __name__ == "__main__":
    main()
