"""v1 data references (`azureml.data.data_reference.DataReference`, `DataPathComputeBinding`,
`runconfig.DataReferenceConfiguration`): a datastore path bound to a folder on the compute.

In a run's arguments a reference is the text `$AZUREML_DATAREFERENCE_<name>` (v1's `str()` of
it), which becomes the folder's path when the run starts; `run_config.data_references` maps each
name to its binding. Here a reference is consumed like a file dataset over the datastore path
(runs/config.py turns each into a run input), so it is made available in Preparing.
"""

from __future__ import annotations

from runyard.data.dataset_consumption_config import validate_name
from runyard.errors import UserErrorException, received

ARGUMENT_PREFIX = "$AZUREML_DATAREFERENCE_"
MODES = ("mount", "download")


def _mode(mode) -> str:
    if mode not in MODES:
        raise UserErrorException(f"A data reference's mode is 'mount' or 'download' (an input of "
                                 f"the run). Received: mode={received(mode)}")
    return mode


class DataPathComputeBinding:
    """How a DataPath is made available on the compute: mode 'mount' or 'download'."""

    def __init__(self, mode="mount", path_on_compute=None, overwrite=False):
        self.mode = _mode(mode)
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite


class DataReferenceConfiguration:
    """What run_config.data_references holds per name (v1 `to_config()` of a DataReference)."""

    def __init__(self, datastore_name=None, mode="mount", path_on_datastore=None,
                 path_on_compute=None, overwrite=False):
        self.data_store_name = datastore_name
        self.mode = _mode(mode)
        self.path_on_datastore = path_on_datastore
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite


class DataReference:
    """A datastore path bound to the compute: `DataReference(datastore, data_reference_name,
    path_on_datastore)`, or `datapath.create_data_reference(name, DataPathComputeBinding())`."""

    def __init__(self, datastore, data_reference_name=None, path_on_datastore=None, mode="mount",
                 path_on_compute=None, overwrite=False):
        if datastore is None or not hasattr(datastore, "workspace"):
            raise UserErrorException(f"DataReference needs a Datastore (Datastore.get(ws, name)). "
                                     f"Received: datastore={received(datastore)}")
        self.datastore = datastore
        self.data_reference_name = validate_name(data_reference_name or datastore.name)
        self.path_on_datastore = path_on_datastore
        self.mode = _mode(mode)
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    def path(self, path=None, data_reference_name=None) -> DataReference:
        return DataReference(self.datastore, data_reference_name or self.data_reference_name, path,
                             self.mode, self.path_on_compute, self.overwrite)

    def as_mount(self) -> DataReference:
        return self._with_mode("mount", self.path_on_compute)

    def as_download(self, path_on_compute=None, overwrite=False) -> DataReference:
        return self._with_mode("download", path_on_compute or self.path_on_compute)

    def _with_mode(self, mode: str, path_on_compute) -> DataReference:
        return DataReference(self.datastore, self.data_reference_name, self.path_on_datastore, mode,
                             path_on_compute, self.overwrite)

    def to_config(self) -> DataReferenceConfiguration:
        return DataReferenceConfiguration(self.datastore.name, self.mode, self.path_on_datastore,
                                          self.path_on_compute, self.overwrite)

    @staticmethod
    def _from_config(name: str, config: DataReferenceConfiguration, workspace) -> DataReference:
        from runyard.data.datastore import Datastore

        if workspace is None:
            raise UserErrorException("Data references are resolved when the run is submitted "
                                     "through an Experiment of a workspace.")
        if not config.data_store_name:
            raise UserErrorException(f"data_references[{name!r}] names no datastore; set "
                                     "datastore_name (or use DataReference(...).to_config()).")
        return DataReference(Datastore.get(workspace, config.data_store_name), name,
                             config.path_on_datastore, config.mode, config.path_on_compute, config.overwrite)

    def _consumption(self):
        """The run input this reference is: the datastore path as a file dataset."""
        from runyard.data.datapath import DataPath

        path = DataPath(self.datastore, self.path_on_datastore, self.data_reference_name)
        config = path.as_mount(self.path_on_compute) if self.mode == "mount" \
            else path.as_download(self.path_on_compute)
        config._folder = True  # a reference is its folder, also when it holds one file
        return config

    def __str__(self) -> str:
        return ARGUMENT_PREFIX + self.data_reference_name

    def __repr__(self) -> str:
        return (f"DataReference(datastore={self.datastore.name!r}, data_reference_name="
                f"{self.data_reference_name!r}, path_on_datastore={self.path_on_datastore!r}, mode={self.mode!r})")
