"""v1 HyperDriveRun: a sweep's run. Its trials are child runs; the sweep's controller
(runyard/sweeps/controller.py) starts and stops them."""

from __future__ import annotations

import json

from runyard.runs.run import Run


class HyperDriveRun(Run):
    """Example (v1):
        sweep = Experiment(ws, "tune").submit(hyperdrive_config)
        sweep.wait_for_completion(show_output=True)
        best = sweep.get_best_run_by_primary_metric()
    """

    @property
    def type(self) -> str:
        return "hyperdrive"

    @property
    def _sweep(self) -> dict:
        return self._record["spec"]["sweep"]

    @property
    def hyperdrive_config(self) -> dict:
        return dict(self._sweep)

    def _goal_best(self):
        from runyard.sweeps.policies import best_of

        return best_of(self._sweep["primary_metric"]["goal"] == "MAXIMIZE")

    def _scored(self, children=None) -> list[tuple[Run, float | None]]:
        """Each trial with its best primary metric value (None: it logged none)."""
        name, best = self._sweep["primary_metric"]["name"], self._goal_best()
        out = []
        for child in children if children is not None else self.get_children():
            values = [v for v in _as_list(child.get_metrics(name).get(name)) if isinstance(v, int | float)]
            out.append((child, best(values) if values else None))
        return out

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False,
                            raise_on_error: bool = True) -> dict:
        """Block until the sweep ends; with show_output, its progress as it happens (trials
        started, primary metric values, stops, the best so far), then the table of trials."""
        details = super().wait_for_completion(show_output, wait_post_processing, raise_on_error)
        if show_output:
            print(self.trials_table(), flush=True)
        return details

    def trials_table(self) -> str:
        """The trials, best first: status, primary metric, sampled values."""
        name = self._sweep["primary_metric"]["name"]
        rows = self.get_children_sorted_by_primary_metric()
        lines = [f"{'trial':<48} {'status':<10} {name:>16}  hyperparameters"]
        for row in rows:
            value = row["best_primary_metric"]
            lines.append(f"{row['run_id']:<48} {row['status']:<10} "
                         f"{'-' if value is None else format(value, '.6g'):>16}  {row['hyperparameters']}")
        return "\n".join(lines)

    def get_best_run_by_primary_metric(self, include_failed: bool = True, include_canceled: bool = True,
                                       include_resume_from_runs: bool = True) -> Run | None:
        """The trial with the best primary metric value, or None when no trial logged it."""
        skip = set() if include_failed else {"Failed"}
        if not include_canceled:
            skip.add("Canceled")
        children = self.get_children()
        if include_resume_from_runs:  # the trials of the sweeps this one resumed
            for earlier in self._sweep.get("resume_from") or []:
                children += Run.get(self._ws, earlier).get_children()
        scored = [(c, v) for c, v in self._scored(children) if v is not None and c.get_status() not in skip]
        if not scored:
            return None
        return self._goal_best()(scored, key=lambda pair: pair[1])[0]

    def get_children_sorted_by_primary_metric(self, top: int = 0, reverse: bool = False,
                                              discard_no_metric: bool = False) -> list[dict]:
        """The trials, best first (reverse=True: worst first), as v1's dicts."""
        maximize = self._sweep["primary_metric"]["goal"] == "MAXIMIZE"
        rows = [{"run_id": c.id, "hyperparameters": c.get_properties().get("runyard.hyperparameters"),
                 "best_primary_metric": v, "status": c.get_status()} for c, v in self._scored()]
        if discard_no_metric:
            rows = [r for r in rows if r["best_primary_metric"] is not None]
        scored = sorted((r for r in rows if r["best_primary_metric"] is not None),
                        key=lambda r: r["best_primary_metric"], reverse=maximize != reverse)
        rows = scored + [r for r in rows if r["best_primary_metric"] is None]
        return rows[:top] if top else rows

    def get_hyperparameters(self) -> dict[str, str]:
        """{trial run id: its sampled values as JSON}."""
        return {c.id: c.get_properties().get("runyard.hyperparameters", "{}") for c in self.get_children()}

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type=None,
                    populate: bool = False) -> dict:
        """Every trial's metrics: {trial run id: {name: values}}."""
        return {c.id: c.get_metrics(name) for c in self.get_children()}

    def get_diagnostics(self) -> dict:
        """What the sweep did: its settings, each trial's values, status and best value, and
        why trials were stopped."""
        return {"sweep": self._sweep, "properties": self.get_properties(),
                "trials": [{"run_id": c.id, "status": c.get_status(), "best_primary_metric": v,
                            "hyperparameters": json.loads(c.get_properties().get("runyard.hyperparameters", "{}")),
                            "early_termination": c.get_properties().get("runyard.earlyTermination")}
                           for c, v in self._scored()]}


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
