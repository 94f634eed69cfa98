"""Sweeps (v1 HyperDrive) of real scripts on the local target: each trial is a real run with
its own supervisor, a child of the sweep's run, started and stopped by the sweep's controller."""

from __future__ import annotations

import json
import re
import time

import pytest

from conftest import pid_alive, runyard_cli, wait_until
from runyard.core import Experiment, Run, ScriptRunConfig
from runyard.train.hyperdrive import (
    BanditPolicy,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveConfigException,
    HyperDriveRun,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
    uniform,
)

# A quick synthetic objective: `--quality` sets the level the accuracy climbs to.
OBJECTIVE = """
import argparse, time
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--data", default="none")
p.add_argument("--quality", type=float, default=0.5)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--pause", type=float, default=0.0)
a = p.parse_args()
run = Run.get_context()
print("data", a.data, "quality", a.quality, flush=True)
for epoch in range(1, a.epochs + 1):
    run.log("acc", round(a.quality * epoch / a.epochs, 6))
    run.log("loss", 1 - a.quality)
    time.sleep(a.pause)
"""


def test_a_random_sweep_runs_its_trials_as_children_and_finds_the_best(ws, src, capsys):
    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py",
                                   arguments=["--data", "digits", "--quality", 0.01]),
        hyperparameter_sampling=RandomParameterSampling({"--quality": uniform(0.1, 0.9)},
                                                        properties={"seed": 3}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=4, max_concurrent_runs=2)
    sweep = Experiment(ws, "sweep").submit(config)
    assert isinstance(sweep, HyperDriveRun) and sweep.id.startswith("HD_")
    sweep.wait_for_completion()
    assert sweep.get_status() == "Completed", sweep._paths.std_log.read_text()

    children = sweep.get_children()
    assert [c.id for c in children] == [f"{sweep.id}_{i}" for i in range(4)]
    assert all(c.get_status() == "Completed" and c.parent.id == sweep.id for c in children)
    values = {c.id: json.loads(v)["--quality"] for c, v in zip(children, sweep.get_hyperparameters().values(), strict=True)}
    assert all(0.1 <= q <= 0.9 for q in values.values()) and len(set(values.values())) == 4
    for child in children:  # the sampled value replaced the template's, the rest stays
        printed = child._paths.std_log.read_text().split()
        assert printed[:2] == ["data", "digits"] and float(printed[3]) == values[child.id]
        assert child.get_metrics()["acc"][-1] == round(values[child.id], 6)
    best = sweep.get_best_run_by_primary_metric()
    assert best.id == max(values, key=values.get)
    ranked = sweep.get_children_sorted_by_primary_metric()
    assert [r["run_id"] for r in ranked] == sorted(values, key=values.get, reverse=True)
    assert sweep.get_children_sorted_by_primary_metric(top=1, reverse=True)[0]["run_id"] == min(values, key=values.get)
    assert set(sweep.get_metrics()) == set(values)
    assert Run.get(ws, sweep.id).type == "hyperdrive"
    assert sweep.get_properties()["best_child_run_id"] == best.id
    # Concurrency never went over 2: at most two trials were active at any moment.
    records = [c._refresh() for c in children]
    spans = [(r["start_time"], r["end_time"]) for r in records]
    assert max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans) <= 2
    # The third trial was started ahead and held Queued at its start gate until one ended.
    queued_at = dict(records[2]["history"])["Queued"]
    assert queued_at < min(r["end_time"] for r in records[:2]) <= records[2]["start_time"]
    # Once the warm process was ready, supervisors were forked from it (runyard/supervisor/warm.py).
    forks = sweep._paths.supervisor_log.read_text()
    assert f"Forked the supervisor of {records[-1]['run_id']} (pid {records[-1]['supervisor_pid']})." in forks

    from runyard.stores import tracking

    child_mlflow = tracking.client(ws.tracking_uri).get_run(best._record["mlflow_run_id"])
    assert child_mlflow.data.tags["mlflow.parentRunId"] == sweep._record["mlflow_run_id"]
    assert float(child_mlflow.data.params["--quality"]) == values[best.id]
    shown = runyard_cli("runs", "show", sweep.id)
    assert shown.returncode == 0 and "trials (best first):" in shown.stdout, shown.stdout + shown.stderr
    assert shown.stdout.index(best.id) < min(shown.stdout.index(c.id) for c in children if c.id != best.id)

    # RunDetails shows the trials (a table in a notebook; text elsewhere), and the sweep's HTML.
    from runyard.widgets import RunDetails

    data = RunDetails(sweep).get_widget_data()
    assert [c["run_id"] for c in data["children"]] == [c.id for c in children]
    assert all(c["metrics"]["acc"] == round(values[c["run_id"]], 6) and "--quality" in c["values"]
               for c in data["children"])
    capsys.readouterr()
    RunDetails(sweep).show()
    printed = capsys.readouterr().out
    assert f"{sweep.id}): Completed" in printed and all(f"child {c.id}: Completed" in printed for c in children)
    assert "<td>hyperdrive</td>" in sweep._repr_html_() and "Link to runyard" in sweep._repr_html_()


def test_bandit_stops_the_trial_that_falls_behind_and_the_grid_bounds_the_sweep(ws, src):
    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py",
                                   arguments=["--epochs", 12, "--pause", 0.4]),
        hyperparameter_sampling=GridParameterSampling({"--quality": choice(1.0, 0.2)}),
        policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
        primary_metric_name="acc", primary_metric_goal="MAXIMIZE",
        max_total_runs=10, max_concurrent_runs=2)
    sweep = Experiment(ws, "bandit").submit(config)
    started = time.monotonic()
    sweep.wait_for_completion()
    good, bad = sweep.get_children()
    assert len(sweep.get_children()) == 2  # the grid has two points, under max_total_runs
    assert good.get_status() == "Completed" and len(good.get_metrics()["acc"]) == 12
    assert bad.get_status() == "Canceled"
    reason = bad.get_properties()["runyard.earlyTermination"]
    # The first interval both trials reached, from delay_evaluation on; the numbers are v1's.
    found = re.fullmatch(r"Bandit policy at interval (\d+): its best value ([\d.]+) with slack_factor "
                         r"0.1 is ([\d.]+), below the best value at this interval, ([\d.]+)\.", reason)
    assert found, reason
    n, own, reach, best = int(found[1]), float(found[2]), float(found[3]), float(found[4])
    assert 2 <= n < 12 and own == round(0.2 * n / 12, 6) and best == round(n / 12, 6)
    assert abs(reach - own * 1.1) < 1e-5 and reach < best
    assert len(bad.get_metrics().get("acc", [])) < 12
    assert time.monotonic() - started < 60
    assert "stopped early" in sweep._paths.std_log.read_text()


def test_canceling_a_sweep_stops_every_trial(ws, src):
    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py", arguments=["--epochs", 600, "--pause", 0.1]),
        hyperparameter_sampling=RandomParameterSampling({"--quality": uniform(0.1, 0.9)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=6, max_concurrent_runs=2)
    sweep = Experiment(ws, "cancel").submit(config)
    wait_until(lambda: len([c for c in sweep.get_children() if c.get_status() == "Running"]) == 2,
               timeout=60, message="two trials running")
    sweep.cancel()
    wait_until(lambda: sweep.get_status() == "Canceled", timeout=60, message="sweep canceled")
    children = sweep.get_children()  # the two running, and the one held ready to go next
    assert len(children) == 3 and all(c.get_status() == "Canceled" for c in children)
    assert children[2]._record["start_time"] is None


def test_a_sweep_is_refused_at_submit_when_its_target_does_not_exist(ws, src):
    from runyard.errors import ComputeTargetNotFoundError

    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py", compute_target="nowhere"),
        hyperparameter_sampling=RandomParameterSampling({"--quality": uniform(0.1, 0.9)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=2)
    with pytest.raises(ComputeTargetNotFoundError, match="nowhere"):
        Experiment(ws, "refused").submit(config)
    assert list(ws.backend.runs.list()) == []


def test_a_bayesian_sweep_runs_with_its_own_sampler(ws, src):
    from runyard.train.hyperdrive import BayesianParameterSampling, quniform

    src.write("objective.py", OBJECTIVE)
    with pytest.warns(UserWarning, match="at least 20 times the number of hyperparameters"):
        config = HyperDriveConfig(
            run_config=ScriptRunConfig(str(src.path), script="objective.py"),
            hyperparameter_sampling=BayesianParameterSampling(
                {"--quality": uniform(0.1, 0.9), "--epochs": quniform(1, 4, 1)}),
            primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=3, max_concurrent_runs=2)
    sweep = Experiment(ws, "bayes").submit(config)
    sweep.wait_for_completion()
    assert sweep.get_status() == "Completed", sweep._paths.std_log.read_text()
    for values in map(json.loads, sweep.get_hyperparameters().values()):
        assert 0.1 <= values["--quality"] <= 0.9 and values["--epochs"] in (1, 2, 3, 4)
    assert len(sweep.get_children()) == 3 and sweep.get_best_run_by_primary_metric() is not None


FAILING = """
import argparse, sys
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
a = p.parse_args()
run = Run.get_context()
if a.quality < 0.5:
    run.log("acc", 5.0)  # a high value, then a crash
    sys.exit(3)
run.log("acc", a.quality)
"""


def test_a_failing_trial_does_not_stop_the_sweep_and_v1s_filters_apply(ws, src):
    src.write("failing.py", FAILING)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="failing.py"),
        hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.2, 0.8)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=2, max_concurrent_runs=1)
    sweep = Experiment(ws, "failing").submit(config)
    sweep.wait_for_completion()
    failed, good = sweep.get_children()
    assert sweep.get_status() == "Completed"
    assert failed.get_status() == "Failed" and good.get_status() == "Completed"
    assert sweep.get_best_run_by_primary_metric().id == failed.id  # v1: include_failed=True
    assert sweep.get_best_run_by_primary_metric(include_failed=False).id == good.id
    assert [c.id for c in sweep.get_children(status="Failed")] == [failed.id]
    assert [c.id for c in sweep.get_children(properties={"runyard.hyperparameters": '{"--quality": 0.8}'})] == [good.id]


def test_the_time_budget_ends_the_sweep_and_cancels_its_running_trials(ws, src):
    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py", arguments=["--epochs", 600, "--pause", 0.1]),
        hyperparameter_sampling=RandomParameterSampling({"--quality": uniform(0.1, 0.9)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=10, max_concurrent_runs=2, max_duration_minutes=0.1)
    started = time.monotonic()
    sweep = Experiment(ws, "budget").submit(config)
    sweep.wait_for_completion()
    assert sweep.get_status() == "Completed" and time.monotonic() - started < 45
    assert sweep.get_properties()["runyard.sweepEnded"] == "max_duration_minutes (0.1) reached"
    children = sweep.get_children()
    assert len(children) == 3 and all(c.get_status() == "Canceled" for c in children)
    ran, held = children[:2], children[2]
    assert all(c.get_metrics().get("acc") for c in ran)  # what they logged is kept
    assert held._record["start_time"] is None and not held.get_metrics()


def test_a_sweep_whose_controller_is_killed_fails_and_leaves_no_trial_running(ws, src):
    import os
    import signal

    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py", arguments=["--epochs", 600, "--pause", 0.1]),
        hyperparameter_sampling=RandomParameterSampling({"--quality": uniform(0.1, 0.9)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=4, max_concurrent_runs=2)
    sweep = Experiment(ws, "killed").submit(config)
    wait_until(lambda: len([c for c in sweep.get_children() if c.get_status() == "Running"]) == 2,
               timeout=60, message="two trials running")
    controller = sweep._refresh()["supervisor_pid"]
    warm = _warm_process(controller)
    os.kill(controller, signal.SIGKILL)
    wait_until(lambda: sweep.get_status() == "Failed", timeout=60, message="the sweep failed")
    assert "stopped responding" in sweep.get_details()["error"]["error"]["message"]
    wait_until(lambda: all(c.get_status() == "Canceled" for c in sweep.get_children()), timeout=60,
               message="its trials canceled")
    children = [c._refresh() for c in sweep.get_children()]
    assert len(children) == 3 and children[2]["start_time"] is None  # (the held one never ran)
    processes = [warm.pid, *(c["supervisor_pid"] for c in children)]
    wait_until(lambda: not any(pid_alive(pid) for pid in processes), timeout=30,
               message="the warm process and every supervisor gone")


def _warm_process(controller_pid: int):
    import psutil

    return wait_until(lambda: next((p for p in psutil.Process(controller_pid).children()
                                    if "runyard.supervisor.warm" in p.cmdline()), None),
                      timeout=30, message="the sweep's warm-supervisor process")


def test_trials_start_cold_when_the_warm_process_is_gone(ws, src):
    src.write("objective.py", OBJECTIVE)
    config = HyperDriveConfig(
        run_config=ScriptRunConfig(str(src.path), script="objective.py", arguments=["--epochs", 4, "--pause", 0.3]),
        hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.2, 0.4, 0.6, 0.8)}),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=4, max_concurrent_runs=1)
    sweep = Experiment(ws, "cold").submit(config)
    warm = _warm_process(wait_until(lambda: sweep._refresh()["supervisor_pid"], message="the controller"))
    wait_until(lambda: sweep._paths.supervisor_log.exists() and "Forked" in sweep._paths.supervisor_log.read_text(),
               timeout=60, message="a supervisor forked warm")
    warm.kill()
    sweep.wait_for_completion()
    children = sweep.get_children()
    assert [c.get_status() for c in children] == ["Completed"] * 4
    assert [c.get_metrics()["acc"][-1] for c in children] == [0.2, 0.4, 0.6, 0.8]
    forked = sweep._paths.supervisor_log.read_text()
    assert f"Forked the supervisor of {children[3].id} " not in forked  # it started cold


def test_the_cli_starts_a_sweep_without_python_and_refuses_bad_expressions(ws, src):
    src.write("objective.py", OBJECTIVE)
    script = str(src.path / "objective.py")
    result = runyard_cli("sweep", script, "--param", "--quality=choice(0.2, 0.6)", "--metric", "acc",
                         "--sampling", "grid", "--trials", "5", "--concurrency", "2",
                         "--policy", "bandit:slack_factor=0.5,delay_evaluation=9", "-e", "cli-sweep",
                         "--", "--epochs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trial" in result.stdout and "Sweep Completed: 2 trial(s)" in result.stdout
    sweep = next(Experiment(ws, "cli-sweep").get_runs())
    assert sorted(json.loads(v)["--quality"] for v in sweep.get_hyperparameters().values()) == [0.2, 0.6]
    assert sweep.get_best_run_by_primary_metric().get_metrics()["acc"] == [0.3, 0.6]
    for bad, message in [(["--param", "--lr=__import__('os')"], "NAME=EXPRESSION"),
                         (["--param", "--lr=uniform(1, 1)"], "min_value must be below max_value"),
                         (["--param", "--lr=uniform(0, 1)", "--policy", "fancy"], "--policy is one of"),
                         (["--param", "--lr=uniform(0, 1)", "--sampling", "grid"], "supports choice only")]:
        refused = runyard_cli("sweep", script, *bad, "--metric", "acc", "-e", "refused")
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    assert list(Experiment(ws, "refused").get_runs()) == []


RESUMABLE = """
import argparse, os
from runyard.core import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
p.add_argument("--resume-from", default=None)
a = p.parse_args()
run = Run.get_context()
start = 0
if a.resume_from:
    start = int(open(os.path.join(a.resume_from, "epoch.txt")).read())
print("resumed at", start, flush=True)
for epoch in range(start + 1, start + 3):
    run.log("acc", a.quality * epoch)
os.makedirs("outputs", exist_ok=True)
open("outputs/epoch.txt", "w").write(str(start + 2))
"""


def test_warm_start_resumes_trials_from_their_outputs_and_learns_from_earlier_sweeps(ws, src):
    src.write("resumable.py", RESUMABLE)
    base = dict(run_config=ScriptRunConfig(str(src.path), script="resumable.py"),
                primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE)
    first = Experiment(ws, "warm").submit(HyperDriveConfig(
        hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.1, 0.2, 0.3)}),
        max_total_runs=2, max_concurrent_runs=2, **base))
    first.wait_for_completion()
    done = first.get_children()
    assert [json.loads(v)["--quality"] for v in first.get_hyperparameters().values()] == [0.1, 0.2]

    second = Experiment(ws, "warm").submit(HyperDriveConfig(
        hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.1, 0.2, 0.3)}),
        max_total_runs=3, max_concurrent_runs=1, resume_from=[first], resume_child_runs=[done[1]], **base))
    second.wait_for_completion()
    assert second.get_status() == "Completed", second._paths.std_log.read_text()
    resumed, fresh = second.get_children()  # the grid skipped what the first sweep tried
    assert json.loads(resumed.get_properties()["runyard.hyperparameters"]) == {"--quality": 0.2}
    assert "resumed at 2" in resumed._paths.std_log.read_text()
    assert resumed.get_metrics()["acc"] == [0.6000000000000001, 0.8]
    assert json.loads(fresh.get_properties()["runyard.hyperparameters"]) == {"--quality": 0.3}
    assert second.get_best_run_by_primary_metric().id == resumed.id  # 0.8 beats 0.6
    assert second.get_best_run_by_primary_metric(include_resume_from_runs=False).id == resumed.id
    with pytest.raises(HyperDriveConfigException, match="resume_from takes earlier sweeps"):
        HyperDriveConfig(hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.1)}),
                         max_total_runs=1, resume_from=[done[0]], **base)
