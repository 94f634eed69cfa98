"""v1 DataPath: a path inside a datastore (`datastore.path('mnist')`), and how it is bound to
the compute (DataPathComputeBinding, from data_reference.py, v1 exports it from here)."""

from __future__ import annotations

import posixpath

from runyard.data.data_reference import DataPathComputeBinding
from runyard.data.dataset_consumption_config import DatasetConsumptionConfig

__all__ = ["DataPath", "DataPathComputeBinding"]


class DataPath:
    def __init__(self, datastore=None, path_on_datastore=None, name=None):
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").strip("/")
        self.name = name

    def _dataset(self):
        from runyard.data.file_dataset import FileDataset
        from runyard.data.run_files import ARTIFACT_STORE, RunFiles

        if self.datastore.name == ARTIFACT_STORE:  # a run's files (run._get_outputs_datapath())
            return RunFiles(self.datastore.workspace, self.path_on_datastore)

        pattern = posixpath.join(self.path_on_datastore, "**") if self.path_on_datastore else "**"
        return FileDataset._from_sources([{"kind": "datastore", "datastore": self.datastore.name,
                                           "path": pattern}], self.datastore.workspace)

    def as_mount(self, path_on_compute=None):
        return DatasetConsumptionConfig(self.name, self._dataset(), "mount", path_on_compute)

    def as_download(self, path_on_compute=None):
        return DatasetConsumptionConfig(self.name, self._dataset(), "download", path_on_compute)

    def create_data_reference(self, data_reference_name=None, datapath_compute_binding=None):
        """v1: this path bound to the compute (DataPathComputeBinding: mount or download)."""
        from runyard.data.data_reference import DataReference

        binding = datapath_compute_binding or DataPathComputeBinding()
        return DataReference(self.datastore, data_reference_name or self.name, self.path_on_datastore,
                             binding.mode, binding.path_on_compute, binding.overwrite)

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore.name!r}, path_on_datastore={self.path_on_datastore!r})"
