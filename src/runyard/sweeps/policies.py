"""When a trial stops early: v1's Bandit, median stopping and truncation selection, applied to
the primary metric's values as each trial logs them. One logged value is one interval.

`series` maps every trial of the sweep (and of the sweeps it resumes from) to the values it
has logged so far, in order; `trial` is the one that has just logged its n-th value. Each
decision returns None (go on) or the reason it stops, with the numbers.
"""

from __future__ import annotations

import math
import statistics


def evaluated_at(policy: dict, n: int) -> bool:
    """Whether the policy applies at interval n: every multiple of evaluation_interval from
    delay_evaluation on."""
    return n >= max(1, policy["delay_evaluation"]) and n % policy["evaluation_interval"] == 0


def decide(policy: dict, maximize: bool, series: dict[str, list[float]], trial: str) -> str | None:
    n = len(series[trial])
    if policy["name"] in ("Default", None) or not evaluated_at(policy, n):
        return None
    rule = {"Bandit": bandit, "MedianStopping": median_stopping,
            "TruncationSelection": truncation_selection}[policy["name"]]
    return rule(policy, maximize, series, trial, n)


def best_of(maximize: bool):
    """The function that picks the best of values (max or min, by the goal)."""
    return max if maximize else min


def _worse(value: float, than: float, maximize: bool) -> bool:
    """Strictly worse, beyond float rounding (0.7 + 0.1 does reach 0.8)."""
    if math.isclose(value, than, rel_tol=1e-9, abs_tol=1e-12):
        return False
    return value < than if maximize else value > than


def bandit(policy: dict, maximize: bool, series: dict, trial: str, n: int) -> str | None:
    """Stops the trial when its best value so far, with the slack added, does not reach the
    best value any trial had at interval n (v1: compares Y + Y * slack_factor with the best
    run's value; minimizing, the mirror image)."""
    at_n = [values[n - 1] for values in series.values() if len(values) >= n]
    best = best_of(maximize)(at_n)
    own = best_of(maximize)(series[trial][:n])
    factor, amount = policy.get("slack_factor"), policy.get("slack_amount")
    if factor is not None:
        reach = own * (1 + factor) if maximize else own / (1 + factor)
        slack = f"slack_factor {factor}"
    else:
        reach = own + amount if maximize else own - amount
        slack = f"slack_amount {amount}"
    if _worse(reach, best, maximize):
        return (f"Bandit policy at interval {n}: its best value {own:g} with {slack} is {reach:g}, "
                f"{'below' if maximize else 'above'} the best value at this interval, {best:g}.")
    return None


def median_stopping(policy: dict, maximize: bool, series: dict, trial: str, n: int) -> str | None:
    """Stops the trial when its best value so far is worse than the median of the other
    trials' running averages (their mean over their first n values)."""
    averages = [statistics.fmean(values[:n]) for other, values in series.items()
                if other != trial and len(values) >= n]
    if not averages:
        return None
    median = statistics.median(averages)
    own = best_of(maximize)(series[trial][:n])
    if _worse(own, median, maximize):
        return (f"Median stopping policy at interval {n}: its best value {own:g} is "
                f"{'below' if maximize else 'above'} the median {median:g} of the other "
                f"{len(averages)} trial(s)' running averages.")
    return None


def truncation_selection(policy: dict, maximize: bool, series: dict, trial: str, n: int) -> str | None:
    """Stops the trial when its value at interval n is among the lowest truncation_percentage
    percent of every trial's value at interval n (ties keep the trial)."""
    at_n = sorted(((values[n - 1], other) for other, values in series.items() if len(values) >= n),
                  key=lambda pair: pair[0], reverse=not maximize)  # worst first
    cut = len(at_n) * policy["truncation_percentage"] // 100
    own = series[trial][n - 1]
    worst = [value for value, _ in at_n[:cut]]
    kept = at_n[cut][0] if cut < len(at_n) else None
    if cut and own in worst and own != kept:
        return (f"Truncation selection policy at interval {n}: its value {own:g} is among the "
                f"lowest {policy['truncation_percentage']}% ({cut} of {len(at_n)}) at this interval.")
    return None
