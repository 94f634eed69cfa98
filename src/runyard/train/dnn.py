"""v1 `azureml.train.dnn`."""

from runyard.train.estimators import Mpi, ParameterServer, TensorFlow

__all__ = ["TensorFlow", "Mpi", "ParameterServer"]
