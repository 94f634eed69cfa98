"""FileDataset.mount(): v1's MountContext without FUSE (see data/views.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from runyard.data.progress import to_stderr
from runyard.data.views import materialize, remove_view
from runyard.errors import UserErrorException


class MountContext:
    def __init__(self, dataset, mount_point=None):
        self.dataset = dataset
        self._given = mount_point is not None
        self.mount_point = str(mount_point) if mount_point is not None else None

    def start(self) -> None:
        if self._given:
            point = Path(self.mount_point)
            if point.exists() and any(point.iterdir()):
                raise UserErrorException(f"mount_point {self.mount_point!r} is not empty; pass an "
                                         "empty or new folder.")
        else:
            self.mount_point = tempfile.mkdtemp(prefix="dataset-mount-")
        if self.dataset._served():  # a copy of the files from the server, removed at stop()
            self.dataset.download(self.mount_point, overwrite=False)
            return
        materialize(self.dataset._entries(), "mount", Path(self.mount_point),
                    self.dataset._datastores, to_stderr(True), f"Mounting {self.dataset._label()}")

    def stop(self) -> None:
        remove_view(Path(self.mount_point))

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
