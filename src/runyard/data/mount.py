"""FileDataset.mount(): v1's MountContext without FUSE (see data/views.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from runyard.data.views import remove_view
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
        # (a view of the files here; through a server, a copy, removed at stop())
        self.dataset._datasets().mount(self.dataset._record, Path(self.mount_point), self.dataset._label())

    def stop(self) -> None:
        remove_view(Path(self.mount_point))

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
