"""A sweep's controller: `python -m runyard.sweeps.controller <workspace> <run id>`, one per
sweep, in its own session (it outlives the submitting process, like a run's supervisor).

It keeps up to max_concurrent_runs trials going, each an ordinary run (its own supervisor)
and a child of the sweep's run, with the sampled values appended to the script's arguments. It
reads each trial's primary metric from its metrics files as they are written (each logged
value is one interval) and applies the policy; a trial it stops is canceled, the reason in its
properties. The sweep ends when max_total_runs trials have ended (or the grid is exhausted),
when max_duration_minutes is up, or when it is canceled. Its progress lines go to the sweep's
user_logs/std_log.txt, where wait_for_completion(show_output=True) shows them.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import threading
import time
from pathlib import Path

from runyard import settings
from runyard.runs import gate
from runyard.runs.ingest import is_number
from runyard.runs.paths import RunPaths
from runyard.runs.records import RecordReader
from runyard.runs.status import RunStatus
from runyard.runs.submit import create_and_start, process_env
from runyard.supervisor.warm import WarmSupervisors
from runyard.sweeps import policies, space

S = RunStatus
POLL = 0.05  # seconds between looks at the trials (a look costs well under a millisecond)
TEMPLATE_SKIPS = ("run_id", "experiment", "snapshot_id", "sweep")


class MetricTail:
    """A trial's primary metric values, read from its metrics files as they grow."""

    def __init__(self, metrics_dir: Path, name: str):
        self.reader, self.name = RecordReader(metrics_dir), name
        self.values: list[float] = []
        self.logged: set[str] = set()  # every metric name the trial logged (for the typo hint)

    def read(self) -> int:
        """Read what was appended; returns how many new primary metric values came."""
        records = self.reader.read_new()
        self.reader.commit()
        before = len(self.values)
        for rec in records:
            if rec.get("k") != "m":
                continue
            self.logged.add(str(rec.get("n")))
            if rec.get("n") == self.name and is_number(rec.get("v")):
                self.values.append(float(rec["v"]))
        return len(self.values) - before


class Controller:
    def __init__(self, ws, run_id: str):
        self.ws, self.run_id = ws, run_id
        self.registry = ws._registry
        self.record = self.registry.get_run(run_id)
        spec = self.record["spec"]
        self.sweep = spec["sweep"]
        self.template = {k: v for k, v in spec.items() if k not in TEMPLATE_SKIPS}
        self.snapshot_id = spec["snapshot_id"]
        self.paths = RunPaths.of(ws, run_id)
        metric = self.sweep["primary_metric"]
        self.metric, self.maximize = metric["name"], metric["goal"] == "MAXIMIZE"
        self.best_of = policies.best_of(self.maximize)
        self.policy = self.sweep["policy"]
        sampling = self.sweep["sampling"]
        self.space = sampling["parameter_space"]
        self.grid = space.grid(self.space) if sampling["name"] == "GRID" else None
        seed = (sampling.get("properties") or {}).get("seed")
        self.rng = random.Random(seed)
        self.bayesian = None
        if sampling["name"] == "BayesianOptimization":
            from runyard.sweeps.bayesian import BayesianSampler

            self.bayesian = BayesianSampler(self.space, self.maximize, seed)
        self.prior: dict[str, list[float]] = {}  # trials of the sweeps this one resumes
        self._resume()
        self.queue = [self._resumed_child(child) for child in self.sweep.get("resume_child_runs") or []]
        grid_left = len(self.grid) + len(self.queue) if self.grid is not None else 10**9
        self.total = min(self.sweep["max_total_runs"], grid_left)
        self.concurrency = self.sweep.get("max_concurrent_runs") or self.total
        self.deadline = time.monotonic() + self.sweep["max_duration_minutes"] * 60
        self.trials: dict[str, MetricTail] = {}  # every trial started, in order
        self.active: set[str] = set()  # trials let go (running, or ending)
        self.held: list[str] = []  # trials started ahead, waiting at their start gate
        self.values: dict[str, dict] = {}
        self.ended_why: str | None = None
        self.phase = S.RUNNING  # what a stale heartbeat gives back (CancelRequested once asked)
        self._stopping = threading.Event()

    # -- warm start ---------------------------------------------------------------------------
    def _resume(self) -> None:
        """The trials of the sweeps in resume_from count as earlier trials: the policies compare
        with them, Bayesian sampling learns from them, a grid skips what they tried."""
        from runyard.stores import tracking

        tried = set()
        for earlier in self.sweep.get("resume_from") or []:
            for child in self.registry.list_runs(parent_run_id=earlier):
                values = json.loads(child["properties"].get("runyard.hyperparameters", "{}"))
                series = tracking.metric_history(self.ws.tracking_uri, child["mlflow_run_id"]).get(self.metric, [])
                self.prior[child["run_id"]] = series
                tried.add(json.dumps(values, sort_keys=True))
                if self.bayesian is not None:
                    self.bayesian.add(values, self.best_of(series) if series else None)
        if self.grid is not None:
            self.grid = [values for values in self.grid if json.dumps(values, sort_keys=True) not in tried]

    def _resumed_child(self, child_id: str) -> tuple[dict, Path]:
        """A trial of an earlier sweep, to run again with its values and `--resume-from` its
        outputs (downloaded into this sweep's folder)."""
        from runyard.stores import tracking

        child = self.registry.get_run(child_id)
        values = json.loads(child["properties"].get("runyard.hyperparameters", "{}"))
        folder = self.paths.root / "resume" / child_id
        folder.mkdir(parents=True, exist_ok=True)
        if "outputs" in {name.split("/", 1)[0] for name in tracking.list_files(self.ws.tracking_uri, child["mlflow_run_id"])}:
            folder = tracking.download(self.ws.tracking_uri, child["mlflow_run_id"], "outputs", folder)
        return values, folder

    # -- output -----------------------------------------------------------------------------
    def say(self, line: str) -> None:
        with open(self.paths.std_log, "a") as fh:
            fh.write(f"[{time.strftime('%H:%M:%S')}] {line}\n")

    # -- lifecycle --------------------------------------------------------------------------
    def run(self) -> int:
        import psutil

        me = psutil.Process()
        self.registry.update_run(self.run_id, supervisor_pid=me.pid, supervisor_started=me.create_time(),
                                 host=socket.gethostname(), heartbeat_at=time.time())
        if self.registry.transition(self.run_id, S.STARTING, only_from={S.QUEUED}) is None:
            return 0  # canceled before it started
        self.registry.transition(self.run_id, S.RUNNING, only_from={S.STARTING}, start_time=time.time())
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        self.warm = WarmSupervisors(self.ws, process_env(self.ws), self.paths.supervisor_log)
        self.say(f"Sweep {self.run_id}: up to {self.total} trials, {self.concurrency} at a time, "
                 f"{'maximizing' if self.maximize else 'minimizing'} {self.metric!r}; "
                 f"policy {self.policy['name']}.")
        try:
            end = self._loop()
        except Exception as exc:  # noqa: BLE001  the sweep fails with the reason; no trial is left
            self.say(f"The sweep's controller failed: {type(exc).__name__}: {exc}")
            self._cancel_active("the sweep failed")
            self._finish(S.FAILED, {"code": "ServiceError", "message": f"The sweep's controller failed: {exc}"})
            return 1
        finally:
            self.warm.close()
        self._finish(end, None)
        return 0

    def _heartbeat(self) -> None:
        """Readers fail a sweep whose controller stops beating (runs/liveness.py); a beat after
        a stall takes the sweep back."""
        while not self._stopping.wait(settings.heartbeat_interval()):
            self.registry.update_run(self.run_id, heartbeat_at=time.time())
            self.registry.transition(self.run_id, self.phase, only_from={S.NOT_RESPONDING})

    def _loop(self) -> RunStatus:
        while True:
            now = time.monotonic()
            status = self.registry.get_run(self.run_id)["status"]
            if status == S.CANCEL_REQUESTED:
                self.phase = S.CANCEL_REQUESTED
                self._cancel_active("the sweep was canceled")
                self._wait_active()
                return S.CANCELED
            if now > self.deadline and self.ended_why is None:
                self.ended_why = f"max_duration_minutes ({self.sweep['max_duration_minutes']}) reached"
                self.say(f"Time is up: {self.ended_why}; canceling the running trials.")
                self._cancel_active(self.ended_why)
            self._watch()
            if self.ended_why is None:
                self._fill_slots()
            if not self.active and not self.held and (self.ended_why is not None or len(self.trials) >= self.total):
                return S.COMPLETED
            time.sleep(POLL)

    def _fill_slots(self) -> None:
        """Keep max_concurrent_runs trials going, and one more started ahead and held at its
        start gate, so that the next trial goes the moment one ends (not with Bayesian
        sampling: its next values should learn from the trial that ends first)."""
        while len(self.active) < self.concurrency and (self.held or len(self.trials) < self.total):
            if self.held:
                self._let_go(self.held.pop(0))
            else:
                self._start_trial(held=False)
        if not self.held and len(self.trials) < self.total and self.bayesian is None:
            self._start_trial(held=True)

    def _let_go(self, trial: str) -> None:
        gate.open_(RunPaths.of(self.ws, trial).start_gate)
        self.active.add(trial)
        self.say(f"Trial {trial} started: {json.dumps(self.values[trial])}")

    def _start_trial(self, held: bool) -> None:
        index = len(self.trials)
        trial_id = f"{self.run_id}_{index}"
        resume_from = None
        if self.queue:
            values, resume_from = self.queue.pop(0)
        elif self.grid is not None:
            values = self.grid[index - len(self.sweep.get("resume_child_runs") or [])]
        elif self.bayesian is not None:
            values = self.bayesian.ask(trial_id)
        else:
            values = space.draw(self.space, self.rng)
        fields = dict(self.template)
        arguments = dict(values) if resume_from is None else {**values, "--resume-from": resume_from}
        fields["arguments"] = [str(a) for a in space.arguments(self.template.get("arguments") or [], arguments)]
        create_and_start(self.ws, self.record["experiment"], fields, self.snapshot_id,
                         {"hyperparameters": json.dumps(values)}, parent=self.record, run_id=trial_id,
                         warm=self.warm, held=held)
        self.registry.merge_json(trial_id, "properties", {"runyard.hyperparameters": json.dumps(values)})
        self.trials[trial_id] = MetricTail(RunPaths.of(self.ws, trial_id).metrics_dir, self.metric)
        self.values[trial_id] = values
        if held:
            self.held.append(trial_id)
        else:
            self._let_go(trial_id)

    def _watch(self) -> None:
        series = {**self.prior, **{trial: tail.values for trial, tail in self.trials.items()}}
        for trial in sorted(self.active):
            tail = self.trials[trial]
            new = tail.read()
            record = self.registry.get_run(trial)
            if new:
                latest = tail.values[-1]
                self.say(f"Trial {trial}: {self.metric} = {latest:g} (interval {len(tail.values)})")
                for count in range(len(tail.values) - new + 1, len(tail.values) + 1):
                    seen = {t: v[:count] if t == trial else v for t, v in series.items()}
                    reason = policies.decide(self.policy, self.maximize, seen, trial)
                    if reason and not record["status"].is_terminal():
                        self._stop(trial, reason)
                        break
            if record["status"].is_terminal():
                tail.read()
                self.active.discard(trial)
                self._ended(trial, record)

    def _stop(self, trial: str, reason: str) -> None:
        self.say(f"Trial {trial} stopped early. {reason}")
        self.registry.merge_json(trial, "properties", {"runyard.earlyTermination": reason})
        self.ws.backend.runs.cancel(trial)

    def _ended(self, trial: str, record: dict) -> None:
        tail = self.trials[trial]
        best = self.best_of(tail.values) if tail.values else None
        if self.bayesian is not None and trial in self.bayesian.pending:
            self.bayesian.tell(trial, best)
        elif self.bayesian is not None:  # a resumed trial: values the sampler did not pick
            self.bayesian.add(self.values[trial], best)
        shown = f"best {self.metric} {best:g}" if best is not None else f"no {self.metric!r} logged"
        leader = self._best()
        lead = f" Best so far: {leader[0]} with {leader[1]:g}." if leader else ""
        self.say(f"Trial {trial} {record['status'].value}: {shown}. "
                 f"{len(self.trials) - len(self.active) - len(self.held)} of {self.total} trials done.{lead}")
        if best is None and record["status"] == S.COMPLETED and tail.logged:
            self.say(f"  It logged {', '.join(sorted(tail.logged))}, but not {self.metric!r} "
                     "(primary_metric_name must be a name the script logs with run.log).")

    def _cancel_active(self, why: str) -> None:
        """Cancel the running trials and the held one (let go, it ends at once as Canceled)."""
        for trial in sorted(self.active) + self.held:
            self.registry.merge_json(trial, "properties", {"runyard.canceledBy": why})
            self.ws.backend.runs.cancel(trial)
        for trial in self.held:
            gate.open_(RunPaths.of(self.ws, trial).start_gate)
            self.active.add(trial)
        self.held.clear()

    def _wait_active(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            self._watch()
            time.sleep(POLL)

    def _finish(self, end: RunStatus, error: dict | None) -> None:
        from runyard.stores import tracking

        best = self._best()
        properties = {"runyard.trials": str(len(self.trials))}
        if best is not None:
            properties.update({"best_child_run_id": best[0], "best_metric": repr(best[1])})
        if self.ended_why:
            properties["runyard.sweepEnded"] = self.ended_why
        self.registry.merge_json(self.run_id, "properties", properties)
        self.say(f"Sweep {end.value}: {len(self.trials)} trial(s)" +
                 (f"; best {best[0]} with {self.metric} {best[1]:g}." if best else
                  f"; no trial logged {self.metric!r}."))
        self._stopping.set()
        self.registry.transition(self.run_id, self.phase, only_from={S.NOT_RESPONDING})
        if end == S.COMPLETED:
            self.registry.transition(self.run_id, S.FINALIZING, only_from={S.RUNNING})
        self.registry.transition(self.run_id, end, only_from={S.FINALIZING, S.CANCEL_REQUESTED, S.RUNNING,
                                                              S.STARTING}, error=error)
        started = self.registry.get_run(self.run_id).get("start_time")
        if started:  # (MLflow's duration as runyard's: from Running)
            tracking.set_start_time(self.ws.tracking_uri, self.record["mlflow_run_id"], started)
        tracking.set_terminated(self.ws.tracking_uri, self.record["mlflow_run_id"], end.value, error)

    def _best(self) -> tuple[str, float] | None:
        scored = [(trial, self.best_of(tail.values))
                  for trial, tail in self.trials.items() if tail.values]
        if not scored:
            return None
        return self.best_of(scored, key=lambda pair: pair[1])


def main(argv: list[str]) -> int:
    from runyard.workspace import Workspace

    workspace_dir, run_id = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return Controller(Workspace._of_process(workspace_dir), run_id).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
