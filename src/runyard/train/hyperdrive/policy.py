"""v1 early-termination policies. One evaluation interval is one logged value of the primary
metric; the decisions themselves are in runyard/sweeps/policies.py."""

from __future__ import annotations

from runyard.errors import HyperDriveConfigException, received


class EarlyTerminationPolicy:
    """The base of v1's policies: applied every `evaluation_interval` logged values, from
    `delay_evaluation` on."""

    POLICY_NAME = ""

    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0):
        self._evaluation_interval = _whole("evaluation_interval", evaluation_interval, 1)
        self._delay_evaluation = _whole("delay_evaluation", delay_evaluation, 0)

    @property
    def evaluation_interval(self) -> int:
        return self._evaluation_interval

    @property
    def delay_evaluation(self) -> int:
        return self._delay_evaluation

    def to_json(self) -> dict:
        return {"name": self.POLICY_NAME, "evaluation_interval": self._evaluation_interval,
                "delay_evaluation": self._delay_evaluation, **self._properties()}

    def _properties(self) -> dict:
        return {}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_json().items() if k != "name")
        return f"{type(self).__name__}({fields})"


class BanditPolicy(EarlyTerminationPolicy):
    """Stops a trial whose value at an evaluation interval is not within slack_factor (a ratio)
    or slack_amount (an absolute distance) of the best trial's value at that interval."""

    POLICY_NAME = "Bandit"

    def __init__(self, evaluation_interval: int = 1, slack_factor: float | None = None,
                 slack_amount: float | None = None, delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation)
        if (slack_factor is None) == (slack_amount is None):
            raise HyperDriveConfigException(
                "BanditPolicy takes one of slack_factor (a ratio, e.g. 0.1) or slack_amount (an "
                f"absolute distance). Received: slack_factor={received(slack_factor)}, "
                f"slack_amount={received(slack_amount)}")
        for label, value in (("slack_factor", slack_factor), ("slack_amount", slack_amount)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise HyperDriveConfigException(
                    f"BanditPolicy: {label} is a number of at least 0. Received: {label}={received(value)}")
        self._slack_factor, self._slack_amount = slack_factor, slack_amount

    @property
    def slack_factor(self) -> float | None:
        return self._slack_factor

    @property
    def slack_amount(self) -> float | None:
        return self._slack_amount

    def _properties(self) -> dict:
        return {"slack_factor": self._slack_factor, "slack_amount": self._slack_amount}


class MedianStoppingPolicy(EarlyTerminationPolicy):
    """Stops a trial whose best value so far is worse than the median of the other trials'
    running averages at the same interval."""

    POLICY_NAME = "MedianStopping"


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    """At each evaluation interval, stops the trials whose value is in the lowest
    `truncation_percentage` percent of all trials' values at that interval."""

    POLICY_NAME = "TruncationSelection"

    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1,
                 delay_evaluation: int = 0):
        super().__init__(evaluation_interval, delay_evaluation)
        if isinstance(truncation_percentage, bool) or not isinstance(truncation_percentage, int) \
                or not 1 <= truncation_percentage <= 99:
            raise HyperDriveConfigException(
                "TruncationSelectionPolicy: truncation_percentage is a whole number from 1 to 99. "
                f"Received: truncation_percentage={received(truncation_percentage)}")
        self._truncation_percentage = truncation_percentage

    @property
    def truncation_percentage(self) -> int:
        return self._truncation_percentage

    def _properties(self) -> dict:
        return {"truncation_percentage": self._truncation_percentage}


class NoTerminationPolicy(EarlyTerminationPolicy):
    """Every trial runs to its end."""

    POLICY_NAME = "Default"

    def __init__(self):
        super().__init__(1, 0)


def _whole(label: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise HyperDriveConfigException(
            f"{label} is a whole number of at least {least}. Received: {label}={received(value)}")
    return value
