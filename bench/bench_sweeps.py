"""Sweeps (HyperDrive): overhead, policy reaction time and compute saved, side by side with Ray
Tune and Optuna running the same script.

    .venv/bin/python bench/bench_sweeps.py [--trials 40] [--seconds 2] [--skip-peers]

- Overhead: `--trials` trials of a script that sleeps `--seconds`, 2 at a time, on the local
  target; wall time from submit to the sweep's end against the ideal (trials x seconds / 2).
  Peers, same script as a subprocess per trial, 2 at a time: Ray Tune (`tune.Tuner` with a
  function trainable that runs it) and Optuna (`study.optimize(n_jobs=2)`).
- Reaction: a Bandit policy stops a trial that falls behind; from the log line of the value that
  triggers it (its timestamp) to the trial's processes gone (its run's end time).
- Compute saved: trial-seconds with Bandit and with median stopping against no policy, on the
  same seeded grid of objectives.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import isolated_home, median, report, source_folder

SLEEPER = """
import argparse, time
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--seconds", type=float)
a = p.parse_args()
time.sleep(a.seconds)
Run.get_context().log("score", a.x)
"""

CLIMBER = """
import argparse, time
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
a = p.parse_args()
run = Run.get_context()
for step in range(1, 21):
    run.log("acc", a.quality * step / 20)
    time.sleep(0.25)
"""


def runyard_sweep(src: Path, script: str, space, policy, metric: str, trials: int,
                  concurrency: int, arguments=()):
    from runyard.core import Experiment, ScriptRunConfig
    from runyard.train.hyperdrive import GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal

    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src), script=script, arguments=list(arguments)),
        hyperparameter_sampling=GridParameterSampling(space), policy=policy,
        primary_metric_name=metric, primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=trials, max_concurrent_runs=concurrency)
    started = time.perf_counter()
    sweep = Experiment(_ws(), f"bench-{int(time.time() * 1000)}").submit(config)
    sweep.wait_for_completion()
    return sweep, time.perf_counter() - started


def _ws():
    from runyard.core import Workspace

    return Workspace.from_config()


def overhead(root: Path, trials: int, seconds: float) -> dict:
    from runyard.stores import tracking
    from runyard.train.hyperdrive import choice

    # The workspace exists and this process has its history open (as after a first submit in a
    # notebook), as the peers' walls start after `ray.init()` and `import optuna`. The sweep's
    # own processes (its controller and their MLflow import) are all in the wall.
    tracking.client(_ws().tracking_uri)

    src = source_folder(root, "sleeper.py", SLEEPER)
    _, wall = runyard_sweep(src, "sleeper.py", {"--x": choice(*range(trials))}, None, "score", trials, 2,
                            ["--seconds", seconds])
    return {"runyard": wall, "ideal": trials * seconds / 2}


def ray_tune(src: Path, trials: int, seconds: float) -> float:
    code = f"""
import subprocess, sys, time, os
os.environ["RAY_DEDUP_LOGS"] = "0"
import ray
from ray import tune
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
def trainable(config):
    subprocess.run([sys.executable, {str(src / 'sleeper.py')!r}, "--x", str(config["x"]),
                    "--seconds", "{seconds}"], check=True, env={{**os.environ, "RUNYARD_RUN_ID": ""}})
    return {{"score": config["x"]}}
started = time.perf_counter()
tune.Tuner(tune.with_resources(trainable, {{"cpu": 1}}),
           param_space={{"x": tune.grid_search(list(range({trials})))}},
           tune_config=tune.TuneConfig(max_concurrent_trials=2),
           run_config=tune.RunConfig(storage_path={str(src.parent / 'ray_results')!r}, verbose=0)).fit()
print("WALL", time.perf_counter() - started)
ray.shutdown()
"""
    return _wall(code)


def optuna_peer(src: Path, trials: int, seconds: float) -> float:
    code = f"""
import subprocess, sys, time, os, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
def objective(trial):
    x = trial.suggest_int("x", 0, {trials})
    subprocess.run([sys.executable, {str(src / 'sleeper.py')!r}, "--x", str(x), "--seconds", "{seconds}"],
                   check=True, env={{**os.environ, "RUNYARD_RUN_ID": ""}})
    return x
started = time.perf_counter()
optuna.create_study(direction="maximize").optimize(objective, n_trials={trials}, n_jobs=2)
print("WALL", time.perf_counter() - started)
"""
    return _wall(code)


def _wall(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    lines = [line for line in out.stdout.splitlines() if line.startswith("WALL ")]
    if not lines:
        raise SystemExit(f"peer failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return float(lines[-1].split()[1])


def reaction(root: Path) -> list[float]:
    """From the triggering value's log time to the stopped trial's end, per stopped trial."""
    from runyard.train.hyperdrive import BanditPolicy, choice

    src = source_folder(root, "climber.py", CLIMBER)
    sweep, _ = runyard_sweep(src, "climber.py", {"--quality": choice(1.0, 0.2, 1.0, 0.3, 1.0, 0.25)},
                             BanditPolicy(slack_factor=0.1, delay_evaluation=3), "acc", 6, 2)
    delays = []
    for child in sweep.get_children():
        reason = child.get_properties().get("runyard.earlyTermination")
        if not reason:
            continue
        interval = int(reason.split("interval ")[1].split(":")[0])
        records = [json.loads(line) for path in sorted(child._paths.metrics_dir.glob("*.jsonl"))
                   for line in path.read_text().splitlines()]
        logged = [r["t"] for r in records if r.get("k") == "m" and r.get("n") == "acc"]
        delays.append(child._refresh()["end_time"] - logged[interval - 1])
    return delays


def compute_saved(root: Path) -> dict:
    from runyard.train.hyperdrive import BanditPolicy, MedianStoppingPolicy, choice

    src = source_folder(root, "climber.py", CLIMBER)
    space = {"--quality": choice(1.0, 0.3, 0.9, 0.2, 0.8, 0.4)}
    used = {}
    for label, policy in (("none", None), ("bandit", BanditPolicy(slack_factor=0.2, delay_evaluation=3)),
                          ("median", MedianStoppingPolicy(delay_evaluation=3))):
        sweep, _ = runyard_sweep(src, "climber.py", space, policy, "acc", 6, 2)
        records = [child._refresh() for child in sweep.get_children()]
        used[label] = sum(r["end_time"] - r["start_time"] for r in records)
    return used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    root = isolated_home()
    result = overhead(root, args.trials, args.seconds)
    rows = [(f"ideal ({args.trials} x {args.seconds:g} s / 2)", f"{result['ideal']:.1f} s"),
            ("runyard sweep", f"{result['runyard']:.1f} s ({result['runyard'] / result['ideal'] - 1:+.0%})")]
    if not args.skip_peers:
        src = root / "src"
        tune_wall = ray_tune(src, args.trials, args.seconds)
        optuna_wall = optuna_peer(src, args.trials, args.seconds)
        rows += [("Ray Tune (subprocess per trial)", f"{tune_wall:.1f} s, runyard/Ray Tune "
                                                       f"{result['runyard'] / tune_wall:.2f}"),
                 ("Optuna optimize(n_jobs=2)", f"{optuna_wall:.1f} s, runyard/Optuna "
                                               f"{result['runyard'] / optuna_wall:.2f}")]
    report("Sweep overhead (wall time, 2 at a time)", rows)
    delays = reaction(root)
    report("Bandit reaction (triggering value logged -> trial ended)",
           [("stopped trials", str(len(delays))),
            ("median", f"{median(delays):.2f} s" if delays else "-"),
            ("max", f"{max(delays):.2f} s" if delays else "-")])
    used = compute_saved(root)
    report("Compute used by 6 trials (trial-seconds)",
           [(label, f"{seconds:.1f} s ({seconds / used['none'] - 1:+.0%} against no policy)")
            for label, seconds in used.items()])


if __name__ == "__main__":
    main()
