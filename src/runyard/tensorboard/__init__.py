"""TensorBoard on runs' event files (v1: azureml.tensorboard):
`from runyard.tensorboard import Tensorboard`."""

from runyard.tensorboard.board import Tensorboard

__all__ = ["Tensorboard"]
