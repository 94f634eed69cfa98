"""Datasets and datastores (v1 `azureml.data` / `azureml.core.Dataset`, `Datastore`).

Files are referenced where they are (local folders, http(s), S3, datastores); a registered
version pins its file list with sizes and content hashes; runs get the files through the
content-addressed cache in data/cache.py (see data/views.py for what mount/download mean).
"""

from runyard.data.datapath import DataPath
from runyard.data.dataset_consumption_config import DatasetConsumptionConfig
from runyard.data.file_dataset import FileDataset

__all__ = ["DataPath", "DatasetConsumptionConfig", "FileDataset"]
