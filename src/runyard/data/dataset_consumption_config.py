"""v1 DatasetConsumptionConfig: how a run consumes a dataset (`dataset.as_mount()`,
`as_download()`, `as_named_input('mnist')`). In a ScriptRunConfig's arguments it becomes the
local path of the files on the compute."""

from __future__ import annotations

import re

from runyard.errors import UserErrorException, received

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER = "DatasetConsumptionConfig:"


def validate_name(name) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserErrorException(
            "An input name has letters, digits and underscores and does not start with a digit "
            "(it becomes an environment variable in the job). "
            f"Received: name={received(name)}")
    return name


class DatasetConsumptionConfig:
    def __init__(self, name, dataset, mode="direct", path_on_compute=None):
        self.name = validate_name(name) if name is not None else None
        self.dataset = dataset
        if mode not in ("direct", "mount", "download"):
            raise UserErrorException(f"mode is 'mount' or 'download' for a file dataset. "
                                     f"Received: mode={received(mode)}")
        self.mode = mode
        if path_on_compute is not None and not isinstance(path_on_compute, str):
            raise UserErrorException("path_on_compute is a path string (absolute, or relative to "
                                     f"the job's working folder). Received: {received(path_on_compute)}")
        self.path_on_compute = path_on_compute
        self._folder = False  # the script gets the folder even for one file (data references)

    def as_mount(self, path_on_compute=None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute=None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def __repr__(self) -> str:
        return (f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r}, "
                f"dataset={self.dataset._label()!r})")
