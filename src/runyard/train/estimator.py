"""v1 `azureml.train.estimator`."""

from runyard.train.estimators import Estimator

__all__ = ["Estimator"]
