"""v1 DataPath: a path inside a datastore (`datastore.path('mnist')`)."""

from __future__ import annotations

import posixpath


class DataPath:
    def __init__(self, datastore=None, path_on_datastore=None, name=None):
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").strip("/")
        self.name = name

    def _dataset(self):
        from runyard.data.file_dataset import FileDataset

        pattern = posixpath.join(self.path_on_datastore, "**") if self.path_on_datastore else "**"
        return FileDataset._from_sources([{"kind": "datastore", "datastore": self.datastore.name,
                                           "path": pattern}], self.datastore.workspace)

    def as_mount(self, path_on_compute=None):
        return self._dataset().as_named_input(self.name).as_mount(path_on_compute) if self.name \
            else self._dataset().as_mount(path_on_compute)

    def as_download(self, path_on_compute=None):
        return self._dataset().as_named_input(self.name).as_download(path_on_compute) if self.name \
            else self._dataset().as_download(path_on_compute)

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore.name!r}, path_on_datastore={self.path_on_datastore!r})"
