"""SDK v1 import path `azureml.core.webservice`: re-exports only."""

from runyard.serving.webservice import AciWebservice, LocalWebservice, Webservice

__all__ = ["Webservice", "AciWebservice", "LocalWebservice"]
