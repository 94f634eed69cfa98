"""Bayesian sampling: Optuna's TPE sampler, told every finished trial's best primary metric
value (early-terminated trials included, as v1 does; a trial that logged nothing counts as
failed). TPE rather than Optuna's Gaussian-process sampler: it takes categorical (choice) and
quantized (quniform) parameters as they are, needs no PyTorch, and costs milliseconds a trial."""

from __future__ import annotations

from typing import Any

from runyard.sweeps.space import quantized

STARTUP_TRIALS = 5  # random trials before TPE models the results (Optuna's default is 10)


class BayesianSampler:
    def __init__(self, space: dict, maximize: bool, seed: int | None = None):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.study = optuna.create_study(
            direction="maximize" if maximize else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS))
        self.distributions = {name: _distribution(expression) for name, expression in space.items()}
        self.pending: dict[str, Any] = {}  # trial id -> its Optuna trial

    def ask(self, trial_id: str) -> dict:
        trial = self.study.ask(self.distributions)
        self.pending[trial_id] = trial
        return {name: _value(self.space[name], trial.params[name]) for name in self.space}

    def add(self, values: dict, best: float | None) -> None:
        """An earlier sweep's trial (warm start): what it tried and how it scored."""
        import optuna
        from optuna.trial import TrialState

        params = {}
        for name, expression in self.space.items():
            if name not in values:
                return  # a trial of another space: it tells nothing here
            kind, args = expression
            if kind == "choice":
                if values[name] not in args[0]:
                    return
                params[name] = args[0].index(values[name])
            else:
                params[name] = min(max(float(values[name]), args[0]), args[1])
        self.study.add_trial(optuna.trial.create_trial(
            params=params, distributions=self.distributions, value=best,
            state=TrialState.COMPLETE if best is not None else TrialState.FAIL))

    def tell(self, trial_id: str, best: float | None) -> None:
        from optuna.trial import TrialState

        trial = self.pending.pop(trial_id, None)
        if trial is None:
            return
        if best is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, best)


def _distribution(expression: list):
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    kind, args = expression
    if kind == "choice":  # by position: a choice may hold values Optuna cannot store (lists)
        return CategoricalDistribution(list(range(len(args[0]))))
    if kind == "uniform":
        return FloatDistribution(args[0], args[1])
    return FloatDistribution(args[0], args[1])  # quniform: quantized after the draw


def _value(expression: list, drawn):
    kind, args = expression
    if kind == "choice":
        return args[0][drawn]
    if kind == "quniform":
        return quantized(drawn, args[2])
    return drawn
